# Users live in PostgreSQL only: the pooler asks PostgreSQL for each
# user's secret (auth_query) and never stores a password of its own.
#
# How a login goes, for a user "alice" who is not in this file:
#  1. The pooler runs auth_query as odyssey_auth (a role that may read
#     pg_shadow, see below) and gets alice's stored secret. Answers are
#     cached for 10 s, so a connection storm asks once.
#  2. It checks the client against that secret: a SCRAM-SHA-256 secret makes
#     the client do SCRAM even under authentication = "md5" (as PostgreSQL
#     does); an md5 hash does md5.
#  3. Its servers for alice log in to PostgreSQL with what the login proved:
#     SCRAM pass-through (the ClientKey recovered from alice's proof) for a
#     SCRAM secret, the md5 hash for an md5 one. No plaintext password exists
#     anywhere in the pooler. A user PostgreSQL asks for a cleartext password
#     (pg_hba "password") needs password_passthrough = true and
#     authentication = "clear_text".
#
# A user auth_query does not find fails exactly like a wrong password
# (FATAL 28P01), so clients cannot probe which users exist.
#
# In PostgreSQL, once:
#   CREATE ROLE odyssey_auth LOGIN PASSWORD '...';
#   CREATE FUNCTION public.odyssey_user_secret(u text, OUT usename name, OUT passwd text)
#     RETURNS record LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog
#     AS $$ SELECT usename, passwd FROM pg_shadow WHERE usename = u $$;
#   REVOKE ALL ON FUNCTION public.odyssey_user_secret(text) FROM PUBLIC;
#   GRANT EXECUTE ON FUNCTION public.odyssey_user_secret(text) TO odyssey_auth;
# (a superuser may read pg_shadow directly; the function keeps odyssey_auth
# an ordinary role.)

listen {
  host = "*"
  port = 6432
}

storage "postgres" {
  type = "remote"
  host = "127.0.0.1"
  port = 5432
}

database default {
  # The role auth_query runs as. Clients may not log in as it: block.
  user "odyssey_auth" {
    authentication   = "block"
    storage          = "postgres"
    storage_db       = "postgres"
    storage_password = env("ODYSSEY_AUTH_PASSWORD")
    pool             = "transaction"
    pool_size        = 2
  }

  user default {
    authentication  = "scram-sha-256"
    # $1 is bound to the user name through the extended protocol: never
    # spliced into the SQL. The last column is the secret.
    auth_query      = "SELECT usename, passwd FROM public.odyssey_user_secret($1)"
    auth_query_db   = "postgres"
    auth_query_user = "odyssey_auth"
    storage         = "postgres"
    pool            = "transaction"
    pool_size       = 20
  }
}
