# Staff log in with their directory password; the pooler checks it against
# OpenLDAP / Active Directory the way PostgreSQL's "ldap" method does.
#
# LDAP needs the password in clear, so the rule's method is clear_text:
# put TLS in front (listen tls = "require") so it is never sent unencrypted.
# With password_passthrough the same password logs the user in to
# PostgreSQL too (the PostgreSQL role must have that password, or use a
# service role with storage_user/storage_password instead).

listen {
  host          = "*"
  port          = 6432
  tls           = "require"
  tls_cert_file = "/etc/odyssey/server.crt"
  tls_key_file  = "/etc/odyssey/server.key"
}

storage "postgres" {
  type = "remote"
  host = "127.0.0.1"
  port = 5432
}

# Search+bind: bind as a service account, find the entry whose uid is the
# user name (escaped, so "*" or ")(" in a name match nothing), then bind as
# that entry with the client's password. Exactly one entry must match.
ldap_endpoint "corp" {
  ldapserver          = "ldap.corp.example"
  ldapport            = 389
  ldaptls             = true                 # StartTLS before anything is sent
  tls_ca_file         = "/etc/odyssey/corp-ca.crt"  # default: the system's CAs
  ldapbasedn          = "ou=people,dc=corp,dc=example"
  ldapbinddn          = "cn=odyssey,ou=services,dc=corp,dc=example"
  ldapbindpasswd      = env("LDAP_BIND_PASSWORD")
  ldapsearchattribute = "uid"
}

# Simple bind: the DN is ldapprefix + user name + ldapsuffix.
ldap_endpoint "legacy" {
  ldapserver = "ldap.legacy.example"
  ldapscheme = "ldaps"                       # TLS from the first byte, port 636
  ldapprefix = "uid="
  ldapsuffix = ",ou=people,dc=legacy,dc=example"
}

database "analytics" {
  user default {
    authentication       = "clear_text"
    ldap_endpoint_name   = "corp"
    password_passthrough = true
    storage              = "postgres"
    pool                 = "transaction"
    pool_size            = 10
  }
}

database "archive" {
  user default {
    authentication     = "clear_text"
    ldap_endpoint_name = "legacy"
    storage            = "postgres"
    storage_user       = "archive_reader"
    storage_password   = env("ARCHIVE_READER_PASSWORD")
    pool               = "session"
  }
}
