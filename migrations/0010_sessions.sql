-- Browser sessions (DESIGN.md "Auth"): a browser signs in with a key or a one-time sign-in link and holds
-- an HttpOnly session cookie. Only the SHA-256 of a session's or a link's token is stored. A session
-- stands for its key: it ends at expires_at, at sign-out (revoked_at) and when its key is revoked.
CREATE TABLE sessions (
  token_sha256 bytea PRIMARY KEY,
  key_id       text NOT NULL REFERENCES api_keys (key_id),
  csrf_token   text NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz NOT NULL,
  revoked_at   timestamptz
);
-- The sweeper deletes sessions by their end.
CREATE INDEX sessions_expires_idx ON sessions (expires_at);

-- A sign-in link (`agnt ui`) is redeemed once: one UPDATE sets used_at where it is still NULL.
CREATE TABLE sign_in_links (
  token_sha256 bytea PRIMARY KEY,
  key_id       text NOT NULL REFERENCES api_keys (key_id),
  created_at   timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz NOT NULL,
  used_at      timestamptz
);
CREATE INDEX sign_in_links_expires_idx ON sign_in_links (expires_at);
