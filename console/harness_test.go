package console

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// ioLimit bounds every read and write of a scripted test, so a console that
// stops answering fails the test instead of hanging it.
const ioLimit = 20 * time.Second

// reply is a copy of one backend message (the Frontend reuses its structs).
type reply struct {
	kind   string // the message's type name: "RowDescription", "DataRow", ...
	fields []pgproto3.FieldDescription
	values [][]byte
	tag    string                   // CommandComplete
	err    *pgproto3.ErrorResponse  // ErrorResponse
	notice *pgproto3.NoticeResponse // NoticeResponse
	param  [2]string                // ParameterStatus
	status byte                     // ReadyForQuery
}

func (r reply) String() string {
	switch r.kind {
	case "CommandComplete":
		return "C " + r.tag
	case "ErrorResponse":
		return "E " + r.err.Code + " " + r.err.Message
	case "NoticeResponse":
		return "N " + r.notice.Message
	case "ReadyForQuery":
		return "Z " + string(r.status)
	case "RowDescription":
		return fmt.Sprintf("T %d", len(r.fields))
	case "DataRow":
		return fmt.Sprintf("D %d", len(r.values))
	}
	return r.kind
}

func copyReply(m pgproto3.BackendMessage) reply {
	r := reply{kind: strings.TrimPrefix(fmt.Sprintf("%T", m), "*pgproto3.")}
	switch m := m.(type) {
	case *pgproto3.RowDescription:
		for _, f := range m.Fields {
			f.Name = append([]byte(nil), f.Name...)
			r.fields = append(r.fields, f)
		}
	case *pgproto3.DataRow:
		for _, v := range m.Values {
			if v == nil {
				r.values = append(r.values, nil)
			} else {
				r.values = append(r.values, append([]byte{}, v...))
			}
		}
	case *pgproto3.CommandComplete:
		r.tag = string(m.CommandTag)
	case *pgproto3.ErrorResponse:
		c := *m
		r.err = &c
	case *pgproto3.NoticeResponse:
		c := *m
		r.notice = &c
	case *pgproto3.ParameterStatus:
		r.param = [2]string{m.Name, m.Value}
	case *pgproto3.ReadyForQuery:
		r.status = m.TxStatus
	}
	return r
}

// scripted is a console session driven message by message over net.Pipe.
type scripted struct {
	t       *testing.T
	conn    net.Conn
	fe      *pgproto3.Frontend
	done    chan error // Serve's result
	hello   []reply    // the greeting, up to ReadyForQuery
	pending []chan error
}

func startScripted(t *testing.T, sess Session, src Source) *scripted {
	t.Helper()
	server, client := net.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	s := &scripted{t: t, conn: client, fe: pgproto3.NewFrontend(client, client), done: make(chan error, 1)}
	go func() { s.done <- Serve(ctx, server, server, sess, src) }()
	t.Cleanup(func() {
		cancel()
		client.Close()
		server.Close()
		select {
		case <-s.done:
		case <-time.After(ioLimit):
			t.Error("Serve did not return after the connection closed")
		}
	})
	s.hello = s.untilReady()
	return s
}

func (s *scripted) send(msgs ...pgproto3.FrontendMessage) {
	s.t.Helper()
	for _, m := range msgs {
		s.fe.Send(m)
	}
	s.conn.SetWriteDeadline(time.Now().Add(ioLimit))
	// net.Pipe is synchronous: write from a goroutine so that a console
	// answering before it has read everything cannot deadlock the test.
	errc := make(chan error, 1)
	go func() { errc <- s.fe.Flush() }()
	s.pending = append(s.pending, errc)
}

// receive reads one message.
func (s *scripted) receive() reply {
	s.t.Helper()
	s.conn.SetReadDeadline(time.Now().Add(ioLimit))
	m, err := s.fe.Receive()
	if err != nil {
		s.t.Fatalf("receive: %v", err)
	}
	return copyReply(m)
}

// untilReady reads messages up to and including ReadyForQuery.
func (s *scripted) untilReady() []reply {
	s.t.Helper()
	var out []reply
	for range 10000 {
		r := s.receive()
		out = append(out, r)
		if r.kind == "ReadyForQuery" {
			s.flushed()
			return out
		}
	}
	s.t.Fatal("no ReadyForQuery in 10000 messages")
	return nil
}

// flushed waits for the writes sent so far.
func (s *scripted) flushed() {
	s.t.Helper()
	for _, errc := range s.pending {
		if err := <-errc; err != nil {
			s.t.Fatalf("send: %v", err)
		}
	}
	s.pending = nil
}

// query sends a simple Query and returns the answer up to ReadyForQuery.
func (s *scripted) query(sql string) []reply {
	s.t.Helper()
	s.send(&pgproto3.Query{String: sql})
	return s.untilReady()
}

// summary is the kinds of replies in order, for comparing sequences.
func summary(rs []reply) string {
	var b []string
	for _, r := range rs {
		b = append(b, r.String())
	}
	return strings.Join(b, " | ")
}

// first returns the first reply of kind.
func first(t *testing.T, rs []reply, kind string) reply {
	t.Helper()
	for _, r := range rs {
		if r.kind == kind {
			return r
		}
	}
	t.Fatalf("no %s in %s", kind, summary(rs))
	return reply{}
}

// dataRows returns the rows of rs as text (NULL as "<null>").
func dataRows(rs []reply) [][]string {
	var out [][]string
	for _, r := range rs {
		if r.kind != "DataRow" {
			continue
		}
		row := make([]string, len(r.values))
		for i, v := range r.values {
			if v == nil {
				row[i] = "<null>"
			} else {
				row[i] = string(v)
			}
		}
		out = append(out, row)
	}
	return out
}

// columnValues returns the values of the named column.
func columnValues(t *testing.T, rs []reply, name string) []string {
	t.Helper()
	desc := first(t, rs, "RowDescription")
	for i, f := range desc.fields {
		if string(f.Name) == name {
			var out []string
			for _, row := range dataRows(rs) {
				out = append(out, row[i])
			}
			return out
		}
	}
	t.Fatalf("no column %q", name)
	return nil
}
