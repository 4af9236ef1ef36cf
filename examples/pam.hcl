# Operating-system accounts (or anything PAM can check: sssd, Kerberos
# passwords, one-time codes) log in through PAM, service "odyssey":
# /etc/pam.d/odyssey, for example
#
#   auth     required  pam_unix.so
#   account  required  pam_unix.so
#
# (pam_unix needs the pooler to be able to read /etc/shadow: run it in the
# shadow group, or use pam_sss.) PAM calls block; the pooler runs them on
# their own threads, a bounded number at once, each bounded by
# client_login_timeout, so a slow PAM module cannot stall other clients.
# PAM_RHOST is the client's address, for pam_access and friends.

listen {
  host                 = "*"
  port                 = 6432
  tls                  = "require"     # clear_text: never send passwords unencrypted
  tls_cert_file        = "/etc/odyssey/server.crt"
  tls_key_file         = "/etc/odyssey/server.key"
  client_login_timeout = "15s"
}

storage "postgres" {
  type = "remote"
  host = "/var/run/postgresql"         # unix socket: pg_hba "peer"/"trust" for the service role
  port = 5432
}

database default {
  user default {
    authentication   = "clear_text"
    auth_pam_service = "odyssey"
    storage          = "postgres"
    storage_user     = "app"
    pool             = "transaction"
    pool_size        = 20
  }
}
