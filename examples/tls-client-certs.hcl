# Mutual TLS on both sides: clients prove who they are with certificates
# signed by your CA, and the pooler checks PostgreSQL's certificate and
# host name.
#
# Client side (listen tls):
#   disable      SSLRequest answered 'N': plaintext only
#   allow        TLS when the client asks, plaintext otherwise
#   require      TLS only; a plaintext client gets FATAL 28000
#   verify_ca    TLS and a client certificate signed by tls_ca_file
#   verify_full  as verify_ca, and the certificate's CN must be the user name
#                (or listed in auth_common_name)
# PostgreSQL 17 clients may also use sslnegotiation=direct (TLS from the
# first byte, ALPN "postgresql").
#
# Server side (storage tls) follows libpq's sslmode: disable, allow, prefer,
# require, verify_ca, verify_full. Cancel requests use the same settings.
#
# Certificates and keys are re-read on SIGHUP (or the console's RELOAD):
# new handshakes use the new files, open connections carry on.

listen {
  host          = "*"
  port          = 6432
  tls           = "verify_ca"
  tls_cert_file = "/etc/odyssey/server.crt"
  tls_key_file  = "/etc/odyssey/server.key"
  tls_ca_file   = "/etc/odyssey/clients-ca.crt"  # CA of the client certificates
  tls_protocols = "tlsv1.3"
}

storage "postgres" {
  type          = "remote"
  host          = "db.internal"
  port          = 5432
  tls           = "verify_full"
  tls_ca_file   = "/etc/odyssey/db-ca.crt"
  tls_cert_file = "/etc/odyssey/odyssey-client.crt"  # for PostgreSQL's cert auth
  tls_key_file  = "/etc/odyssey/odyssey-client.key"
}

database "app" {
  # Services: the certificate alone authenticates; CN must be the user name.
  user default {
    authentication   = "cert"
    storage          = "postgres"
    storage_user     = "app"
    pool             = "transaction"
    pool_size        = 20
  }

  # One certificate (CN "deploy-bot") may act as the migrations user.
  user "migrations" {
    authentication   = "cert"
    auth_common_name = ["migrations", "deploy-bot"]
    storage          = "postgres"
    pool             = "session"
  }
}
