-- An API key's secret, sealed with a key derived from the server's secret (secret_box.py).
-- Access Tokens are signed with the secret itself, so the server must be able to read it
-- back; the hash stays for HTTP Basic checks, which need no decryption. Keys made before
-- this column existed have none: they still authenticate, but cannot sign tokens.
ALTER TABLE api_keys ADD COLUMN secret_sealed TEXT;
