package integration

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// Startup-phase request codes (PostgreSQL's pqcomm.h).
const (
	protocol30   = 3<<16 | 0
	protocol32   = 3<<16 | 2
	protocol20   = 2<<16 | 0
	sslRequest   = 80877103
	gssencRquest = 80877104
)

// rawConn dials the pooler with a deadline for the whole exchange.
func rawConn(t *testing.T, addr string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	t.Cleanup(func() { conn.Close() })
	return conn
}

// startupPacket encodes a startup-phase packet: length, code, then
// name/value pairs and the final terminator.
func startupPacket(code uint32, kv ...string) []byte {
	body := binary.BigEndian.AppendUint32(nil, code)
	for _, s := range kv {
		body = append(body, s...)
		body = append(body, 0)
	}
	if len(kv) > 0 {
		body = append(body, 0)
	}
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(body)+4)), body...)
}

// wantFatal reads the next message, which must be a FATAL ErrorResponse
// with code, and then EOF.
func wantFatal(t *testing.T, what string, conn net.Conn, code string) {
	t.Helper()
	fe := pgproto3.NewFrontend(conn, conn)
	msg, err := fe.Receive()
	if err != nil {
		t.Errorf("%s: no ErrorResponse: %v", what, err)
		return
	}
	er, ok := msg.(*pgproto3.ErrorResponse)
	if !ok || er.Code != code || er.Severity != "FATAL" {
		t.Errorf("%s: got %T %+v, want FATAL %s", what, msg, msg, code)
		return
	}
	wantEOF(t, what, fe)
}

// wantEOF fails unless the peer closes the connection without sending more.
func wantEOF(t *testing.T, what string, fe *pgproto3.Frontend) {
	t.Helper()
	msg, err := fe.Receive()
	if err == nil {
		t.Errorf("%s: got %T %+v, want the connection closed", what, msg, msg)
		return
	}
	if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !strings.Contains(err.Error(), "reset") {
		t.Errorf("%s: connection not closed: %v", what, err)
	}
}

// login sends a StartupMessage (or uses one already sent when pkt is nil)
// and reads up to ReadyForQuery, returning every message on the way.
func login(t *testing.T, conn net.Conn, pkt []byte) (*pgproto3.Frontend, []pgproto3.BackendMessage) {
	t.Helper()
	if pkt == nil {
		pkt = startupPacket(protocol30, "user", superUser, "database", "postgres")
	}
	if _, err := conn.Write(pkt); err != nil {
		t.Fatal(err)
	}
	fe := pgproto3.NewFrontend(conn, conn)
	var msgs []pgproto3.BackendMessage
	for {
		msg, err := fe.Receive()
		if err != nil {
			t.Fatalf("login: %v after %d messages", err, len(msgs))
		}
		switch m := msg.(type) {
		case *pgproto3.ErrorResponse:
			t.Fatalf("login: %s %s: %s", m.Severity, m.Code, m.Message)
		case *pgproto3.NegotiateProtocolVersion:
			c := *m
			c.UnrecognizedOptions = append([]string(nil), m.UnrecognizedOptions...)
			msg = &c
		case *pgproto3.ReadyForQuery:
			return fe, append(msgs, &pgproto3.ReadyForQuery{TxStatus: m.TxStatus})
		}
		msgs = append(msgs, msg)
	}
}

// query runs a simple query on a raw connection and returns the first
// column of its rows.
func query(t *testing.T, fe *pgproto3.Frontend, sql string) []string {
	t.Helper()
	fe.Send(&pgproto3.Query{String: sql})
	if err := fe.Flush(); err != nil {
		t.Fatal(err)
	}
	var rows []string
	for {
		msg, err := fe.Receive()
		if err != nil {
			t.Fatalf("%.40s: %v", sql, err)
		}
		switch m := msg.(type) {
		case *pgproto3.DataRow:
			rows = append(rows, string(m.Values[0]))
		case *pgproto3.ErrorResponse:
			t.Fatalf("%.40s: %s %s", sql, m.Code, m.Message)
		case *pgproto3.ReadyForQuery:
			return rows
		}
	}
}

func TestMalformedStartup(t *testing.T) {
	p := startPool(t, poolSpec{role: "pooled_startup", mode: "transaction", size: 2})
	bystander := p.conn(t, "") // logged in before the garbage, must survive it
	ctx := testCtx(t)

	v30 := binary.BigEndian.AppendUint32(nil, protocol30)
	cases := []struct {
		name string
		pkt  []byte
		code string
	}{
		{"length 3", []byte{0, 0, 0, 3}, "08P01"},
		{"length 20000", append(binary.BigEndian.AppendUint32(nil, 20000), v30...), "08P01"},
		{"protocol 2.0", startupPacket(protocol20, "user", "postgres", "database", "postgres"), "0A000"},
		{"HTTP request", []byte("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"), "08P01"},
		{"missing terminator", func() []byte {
			pkt := startupPacket(protocol30, "user", "postgres", "database", "postgres")
			pkt = pkt[:len(pkt)-1]
			binary.BigEndian.PutUint32(pkt, uint32(len(pkt)))
			return pkt
		}(), "08P01"},
		{"version only", append(binary.BigEndian.AppendUint32(nil, 8), v30...), "08P01"},
		{"odd number of strings", startupPacket(protocol30, "user", "postgres", "database"), "08P01"},
		{"no user", startupPacket(protocol30, "database", "postgres"), "28000"},
	}
	for _, c := range cases {
		conn := rawConn(t, p.addr)
		if _, err := conn.Write(c.pkt); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		wantFatal(t, c.name, conn, c.code)
		conn.Close()
	}

	// A startup packet cut short by the client closing: the pooler just
	// closes too.
	conn := rawConn(t, p.addr)
	_, _ = conn.Write(binary.BigEndian.AppendUint32(nil, 100))
	_ = conn.(*net.TCPConn).CloseWrite()
	if n, _ := io.Copy(io.Discard, conn); n > 0 {
		// An error for the truncated packet is acceptable, a hang is not.
		t.Logf("pooler answered a truncated startup packet with %d bytes", n)
	}

	if v := one(t, ctx, bystander, "SELECT 'still here'"); v != "still here" {
		t.Fatalf("client logged in before the garbage: %q", v)
	}
	c := p.conn(t, "")
	if v := one(t, ctx, c, "SELECT 1"); v != "1" {
		t.Fatalf("new client after the garbage: %q", v)
	}
}

func TestEncryptionRequestsDeclined(t *testing.T) {
	p := startPool(t, poolSpec{role: "pooled_startup", mode: "transaction", size: 2})
	for _, c := range []struct {
		name string
		code uint32
	}{{"SSLRequest", sslRequest}, {"GSSENCRequest", gssencRquest}} {
		conn := rawConn(t, p.addr)
		if _, err := conn.Write(startupPacket(c.code)); err != nil {
			t.Fatal(err)
		}
		var b [1]byte
		if _, err := io.ReadFull(conn, b[:]); err != nil || b[0] != 'N' {
			t.Fatalf("%s: answer %q %v, want 'N'", c.name, b[0], err)
		}
		fe, _ := login(t, conn, nil)
		if rows := query(t, fe, "SELECT 'plain'"); len(rows) != 1 || rows[0] != "plain" {
			t.Fatalf("%s: query after 'N': %v", c.name, rows)
		}
	}
	// Both requests, one after the other, as libpq does with
	// gssencmode=prefer sslmode=prefer.
	conn := rawConn(t, p.addr)
	var b [1]byte
	for _, code := range []uint32{gssencRquest, sslRequest} {
		if _, err := conn.Write(startupPacket(code)); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(conn, b[:]); err != nil || b[0] != 'N' {
			t.Fatalf("answer %q %v, want 'N'", b[0], err)
		}
	}
	fe, _ := login(t, conn, nil)
	query(t, fe, "SELECT 1")
}

// TestProtocolNegotiation: a client asking for protocol 3.2 with an unknown
// _pq_ option is told what the pooler supports and then logs in normally.
func TestProtocolNegotiation(t *testing.T) {
	p := startPool(t, poolSpec{role: "pooled_startup", mode: "transaction", size: 2})
	conn := rawConn(t, p.addr)
	fe, msgs := login(t, conn, startupPacket(protocol32, "user", superUser, "database", "postgres", "_pq_.foo", "bar"))
	var npv *pgproto3.NegotiateProtocolVersion
	var key *pgproto3.BackendKeyData
	authOK := false
	for _, m := range msgs {
		switch m := m.(type) {
		case *pgproto3.NegotiateProtocolVersion:
			npv = m
		case *pgproto3.AuthenticationOk:
			authOK = true
		case *pgproto3.BackendKeyData:
			key = m
		}
	}
	if npv == nil {
		t.Fatalf("no NegotiateProtocolVersion in %T", msgs)
	}
	if npv.NewestMinorProtocol > 2 || len(npv.UnrecognizedOptions) != 1 || npv.UnrecognizedOptions[0] != "_pq_.foo" {
		t.Errorf("NegotiateProtocolVersion %+v, want newest minor <= 2 and unrecognized [_pq_.foo]", npv)
	}
	if !authOK || key == nil {
		t.Errorf("login messages %T: want AuthenticationOk and BackendKeyData", msgs)
	}
	if rows := query(t, fe, "SELECT 32"); len(rows) != 1 || rows[0] != "32" {
		t.Fatalf("query after negotiation: %v", rows)
	}
}

// TestMessageSizeLimit: max_packet_size bounds client messages: one just
// under it works, one over it ends the session with FATAL 08P01, and the
// pooler goes on serving others.
func TestMessageSizeLimit(t *testing.T) {
	p := startPool(t, poolSpec{role: "pooled_maxpkt", mode: "transaction", size: 2, global: "max_packet_size = 1048576"})
	ctx := testCtx(t)

	conn := rawConn(t, p.addr)
	fe, _ := login(t, conn, nil)
	big := strings.Repeat("x", 900_000)
	if rows := query(t, fe, "SELECT length('"+big+"')"); len(rows) != 1 || rows[0] != strconv.Itoa(len(big)) {
		t.Fatalf("query of %d bytes: %v", len(big), rows)
	}

	conn = rawConn(t, p.addr)
	login(t, conn, nil)
	hdr := []byte{'Q', 0, 0, 0, 0}
	binary.BigEndian.PutUint32(hdr[1:], 2<<20+4)
	if _, err := conn.Write(append(hdr, "SELECT 1"...)); err != nil {
		t.Fatal(err)
	}
	wantFatal(t, "2 MB Query over max_packet_size 1 MB", conn, "08P01")

	c := p.conn(t, "")
	if v := one(t, ctx, c, "SELECT 'served'"); v != "served" {
		t.Fatalf("after an oversized message: %q", v)
	}
}
