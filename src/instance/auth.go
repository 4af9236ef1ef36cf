package instance

import (
	"context"
	"net"

	"github.com/odyssey-go/odyssey/src/client"
	"github.com/odyssey-go/odyssey/src/internal/wire"
	"github.com/odyssey-go/odyssey/src/pgerr"
	"github.com/odyssey-go/odyssey/src/route"
)

// authenticate checks the client against its rule. Only the methods that
// need no exchange exist so far; the others are refused, not skipped.
func (i *Instance) authenticate(ctx context.Context, conn net.Conn, r *wire.Reader, rt *route.Route, st *client.Startup) error {
	switch rt.Rule.Authentication {
	case "none", "":
		return nil
	case "block":
		return pgerr.Fatalf(pgerr.InvalidAuthSpec, "user blocked")
	default:
		return pgerr.Fatalf(pgerr.InvalidAuthorizationMethod, "authentication method %q is not supported yet", rt.Rule.Authentication)
	}
}
