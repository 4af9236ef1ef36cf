package auth

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"runtime"

	"github.com/odyssey-go/odyssey/src/auth/ldap"
	"github.com/odyssey-go/odyssey/src/auth/pam"
	"github.com/odyssey-go/odyssey/src/config"
)

// PAMServiceDirEnv names an environment variable that, when set, is the
// directory of PAM service files instead of /etc/pam.d (pam_start_confdir),
// for tests and for deployments that keep the pooler's PAM stack private.
const PAMServiceDirEnv = "ODYSSEY_PAM_SERVICE_DIR"

// DefaultVerifiers returns PAM (at most two conversations per CPU at once:
// PAM calls block a thread each) and LDAP (a connection per login).
func DefaultVerifiers() Verifiers {
	p := pam.New(2 * runtime.NumCPU())
	p.ConfDir = os.Getenv(PAMServiceDirEnv)
	return Verifiers{
		PAM: func(ctx context.Context, service, user, password, remoteHost string) error {
			err := p.Authenticate(ctx, service, user, password, remoteHost)
			if errors.Is(err, pam.ErrBadCredentials) {
				return fmt.Errorf("%w: %w", ErrBadCredentials, err)
			}
			return err
		},
		LDAP: func(ctx context.Context, ep *config.LDAPEndpoint, user, password string) error {
			tc, err := ldapTLS(ep)
			if err != nil {
				return err
			}
			err = ldap.Authenticate(ctx, ep, tc, user, password)
			if errors.Is(err, ldap.ErrBadCredentials) {
				return fmt.Errorf("%w: %w", ErrBadCredentials, err)
			}
			return err
		},
	}
}

// ldapTLS trusts ep's tls_ca_file, or the system's CAs without one. The
// file is read per login: LDAP logins are few, and an edited file takes
// effect without a reload.
func ldapTLS(ep *config.LDAPEndpoint) (*tls.Config, error) {
	if ep.TLSCAFile == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(ep.TLSCAFile)
	if err != nil {
		return nil, fmt.Errorf("ldap_endpoint %q: %w", ep.Name, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("ldap_endpoint %q: no certificate in %s", ep.Name, ep.TLSCAFile)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}
