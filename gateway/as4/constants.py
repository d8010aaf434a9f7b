"""Namespaces and algorithm identifiers of ebMS 3.0, AS4, WS-Security 1.1.1, XML-DSig and XML-Enc."""

from __future__ import annotations

S12 = "http://www.w3.org/2003/05/soap-envelope"
EB = "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSSE11 = "http://docs.oasis-open.org/wss/oasis-wss-wssecurity-secext-1.1.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
DS = "http://www.w3.org/2000/09/xmldsig#"
XENC = "http://www.w3.org/2001/04/xmlenc#"
XENC11 = "http://www.w3.org/2009/xmlenc11#"
EBBP = "http://docs.oasis-open.org/ebxml-bp/ebbp-signals-2.0"

NSMAP = {"S12": S12, "eb": EB, "wsse": WSSE, "wsu": WSU, "ds": DS, "xenc": XENC, "xenc11": XENC11, "ebbp": EBBP}

WSU_ID = f"{{{WSU}}}Id"

# Signatures
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
SWA_CONTENT_SIGNATURE = "http://docs.oasis-open.org/wss/oasis-wss-SwAProfile-1.1#Attachment-Content-Signature-Transform"
X509V3 = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3"
BASE64_BINARY = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"

# Encryption
AES128_GCM = "http://www.w3.org/2009/xmlenc11#aes128-gcm"
RSA_OAEP = "http://www.w3.org/2009/xmlenc11#rsa-oaep"
RSA_OAEP_MGF1P = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"
MGF1_SHA256 = "http://www.w3.org/2009/xmlenc11#mgf1sha256"
SWA_CONTENT_ONLY = "http://docs.oasis-open.org/wss/oasis-wss-SwAProfile-1.1#Attachment-Content-Only"
SWA_CIPHERTEXT = "http://docs.oasis-open.org/wss/oasis-wss-SwAProfile-1.1#Attachment-Ciphertext-Transform"
ENCRYPTED_KEY_TOKEN = "http://docs.oasis-open.org/wss/oasis-wss-soap-message-security-1.1#EncryptedKey"  # noqa: S105

# ebMS
INITIATOR = "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/initiator"
RESPONDER = "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/responder"
GZIP = "application/gzip"
