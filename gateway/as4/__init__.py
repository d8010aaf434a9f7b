"""AS4 (OASIS ebMS 3.0 Core + AS4 profile, eDelivery AS4 common profile): the pure core.

Bytes in, values out: nothing here imports aiohttp or aio-pika. ``message`` builds and parses UserMessages
(SOAP 1.2 in MIME multipart/related, payloads as attachments, gzip compression), ``wss`` does WS-Security 1.1.1
(X.509 BinarySecurityToken, RSA-SHA256 over eb:Messaging, the Body and each attachment per the SwA profile;
AES-128-GCM payload encryption under RSA-OAEP key transport), ``signals`` builds and checks receipts with
NonRepudiationInformation and ebMS errors, ``errors`` holds the ebMS error codes. An inspection result's images
go as attachments that are never held whole: ``message.build_streamed`` sends them from the image store (signed
by their known digests, encrypted while sent), ``attachments`` reads them part by part on the receiving side.

The primitives come from libraries: RSA, AES-GCM, OAEP and SHA-2 from ``cryptography``, exclusive C14N from
libxml2 through lxml, MIME from the standard library's ``email`` package. The WS-Security message assembly is
ours because neither candidate library covers it (docs/AS4.md, "Library choice").
"""
