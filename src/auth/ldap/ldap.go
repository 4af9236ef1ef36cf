package ldap

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/odyssey-go/odyssey/src/config"
)

// ErrBadCredentials: the server said the user/password is wrong, the user does not
// exist, or the search found 0 or several entries. The caller answers 28P01.
var ErrBadCredentials = errors.New("ldap: bad credentials")

// defaultSearchAttribute is PostgreSQL's ldapsearchattribute when neither it
// nor ldapsearchfilter is set.
const defaultSearchAttribute = "uid"

// userBindFailures are the result codes of the user's bind that say the
// user may not log in, as opposed to the directory failing: no such DN, a
// DN the user name made invalid, a wrong password, an entry without a
// password (RFC 4511 Appendix A.2).
var userBindFailures = []uint16{
	goldap.LDAPResultInvalidCredentials,
	goldap.LDAPResultInappropriateAuthentication,
	goldap.LDAPResultNoSuchObject,
	goldap.LDAPResultInvalidDNSyntax,
	goldap.LDAPResultInsufficientAccessRights,
}

// Authenticate checks user/password against ep. Any error other than
// ErrBadCredentials (errors.Is) means the directory could not be asked (down, TLS
// failure, bad bind DN for the search account): the caller logs it and answers 28000/08006.
// Errors never contain the password.
//
// tlsConfig, when not nil, verifies the server for ldaps and StartTLS (its
// RootCAs, certificates, versions); ServerName defaults to the host being
// dialed. ctx bounds the whole exchange.
func Authenticate(ctx context.Context, ep *config.LDAPEndpoint, tlsConfig *tls.Config, user, password string) error {
	if password == "" {
		return fmt.Errorf("%w: empty password", ErrBadCredentials)
	}
	if err := checkUser(user); err != nil {
		return err
	}
	c, err := connect(ctx, ep, tlsConfig)
	if err != nil {
		return err
	}
	defer c.close()

	var dn string
	if ep.BaseDN == "" {
		dn = ep.Prefix + goldap.EscapeDN(user) + ep.Suffix
	} else if dn, err = c.search(ep, user); err != nil {
		return err
	}
	err = c.ldap.Bind(dn, password)
	switch {
	case err == nil:
		return nil
	case c.ctxErr() == nil && goldap.IsErrorAnyOf(err, userBindFailures...):
		return fmt.Errorf("%w: bind as %q: %v", ErrBadCredentials, dn, err)
	default:
		return c.fail(fmt.Sprintf("bind as %q", dn), err)
	}
}

// checkUser refuses user names that no directory entry can have: empty,
// or not UTF-8 (LDAP strings are UTF-8, RFC 4511 §4.1.2; go-ldap's
// EscapeDN would turn each invalid byte into U+FFFD, so that several names
// would share one DN).
func checkUser(user string) error {
	switch {
	case user == "":
		return fmt.Errorf("%w: empty user name", ErrBadCredentials)
	case !utf8.ValidString(user):
		return fmt.Errorf("%w: user name %q is not valid UTF-8", ErrBadCredentials, user)
	}
	return nil
}

// search binds as the search account and returns the DN of the one entry
// that matches user.
func (c *conn) search(ep *config.LDAPEndpoint, user string) (string, error) {
	switch {
	case ep.BindDN == "":
		if err := c.ldap.UnauthenticatedBind(""); err != nil {
			return "", c.fail("anonymous bind for the search", err)
		}
	case ep.BindPassword == "":
		return "", fmt.Errorf("ldap_endpoint %q: ldapbinddn is set but ldapbindpasswd is empty", ep.Name)
	default:
		if err := c.ldap.Bind(ep.BindDN, ep.BindPassword); err != nil {
			return "", c.fail(fmt.Sprintf("bind as search account %q", ep.BindDN), err)
		}
	}

	filter := searchFilter(ep, user)
	// A size limit of 2 is enough to tell one entry from several. "1.1"
	// asks for no attributes (RFC 4511 §4.5.1.8), like PostgreSQL.
	req := goldap.NewSearchRequest(ep.BaseDN, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases,
		2, c.timeLimit(), false, filter, []string{"1.1"}, nil)
	res, err := c.ldap.Search(req)
	switch {
	case err != nil && c.ctxErr() == nil && goldap.IsErrorWithCode(err, goldap.LDAPResultSizeLimitExceeded):
		return "", fmt.Errorf("%w: more than one entry under %q matches %s", ErrBadCredentials, ep.BaseDN, filter)
	case err != nil:
		return "", c.fail(fmt.Sprintf("search under %q for %s", ep.BaseDN, filter), err)
	}
	switch len(res.Entries) {
	case 0:
		return "", fmt.Errorf("%w: no entry under %q matches %s", ErrBadCredentials, ep.BaseDN, filter)
	case 1:
		return res.Entries[0].DN, nil
	default:
		return "", fmt.Errorf("%w: more than one entry under %q matches %s", ErrBadCredentials, ep.BaseDN, filter)
	}
}

// searchFilter is PostgreSQL's: (attribute=user), or ldapsearchfilter with
// every $username replaced, the user name escaped for a filter value
// (RFC 4515 §3) so that it matches itself only.
func searchFilter(ep *config.LDAPEndpoint, user string) string {
	user = goldap.EscapeFilter(user)
	if ep.SearchFilter != "" {
		return strings.ReplaceAll(ep.SearchFilter, "$username", user)
	}
	attr := ep.SearchAttribute
	if attr == "" {
		attr = defaultSearchAttribute
	}
	return "(" + attr + "=" + user + ")"
}
