package console

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
)

// FuzzServe feeds any bytes to a console session as the client's messages:
// Serve must neither panic nor hang, whatever arrives.
func FuzzServe(f *testing.F) {
	encode := func(msgs ...pgproto3.FrontendMessage) []byte {
		var b []byte
		for _, m := range msgs {
			var err error
			if b, err = m.Encode(b); err != nil {
				f.Fatal(err)
			}
		}
		return b
	}
	f.Add(encode(&pgproto3.Query{String: "SHOW POOLS; SHOW STATS"}, &pgproto3.Terminate{}))
	f.Add(encode(&pgproto3.Query{String: "bogus"}, &pgproto3.Query{String: "PAUSE app"}, &pgproto3.Query{String: "SHOW HELP"}))
	f.Add(encode(&pgproto3.Parse{Name: "s", Query: "SHOW CLIENTS"}, &pgproto3.Describe{ObjectType: 'S', Name: "s"},
		&pgproto3.Bind{PreparedStatement: "s", ResultFormatCodes: []int16{1}}, &pgproto3.Execute{MaxRows: 1},
		&pgproto3.Execute{}, &pgproto3.Sync{}))
	f.Add(encode(&pgproto3.Parse{Query: "bogus"}, &pgproto3.Bind{}, &pgproto3.Execute{}, &pgproto3.Sync{},
		&pgproto3.Close{ObjectType: 'S'}, &pgproto3.Flush{}, &pgproto3.FunctionCall{}))
	f.Add(encode(&pgproto3.Query{String: "SHOW POOLS_EXTENDED; SHOW TOTALS; SELECT 1, 'a', NULL; SET log_level = debug; SHUTDOWN"}))
	f.Add([]byte{'Q', 0, 0, 0, 3})
	f.Add([]byte{'P', 0, 0, 0, 9, 'x', 0, 'y', 0, 0, 1})
	f.Fuzz(func(t *testing.T, in []byte) {
		err := Serve(context.Background(), bytes.NewReader(in), io.Discard, admin(), newFakeSource())
		_ = err // any error is fine; panics and hangs are not
	})
}
