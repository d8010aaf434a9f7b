"""Safe parsing, signing, verification and certificates: everything that decides whom to believe."""
