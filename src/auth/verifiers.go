package auth

// DefaultVerifiers returns the PAM and LDAP verifiers of this build.
func DefaultVerifiers() Verifiers {
	return Verifiers{}
}
