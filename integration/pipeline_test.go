package integration

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

const pipelined = 10_000

// TestPipelineExtended sends 10 000 extended-protocol queries before reading
// any result, with one Sync at the end and with a Sync every 10 queries.
func TestPipelineExtended(t *testing.T) {
	for _, mode := range []string{"transaction", "session", "statement"} {
		for _, every := range []int{pipelined, 10} {
			t.Run(fmt.Sprintf("%s/sync-every-%d", mode, every), func(t *testing.T) {
				p := startPool(t, poolSpec{role: "pooled_pipeline", mode: mode, size: 2})
				ctx := testCtx(t)
				c := p.conn(t, "")
				pl := c.StartPipeline(ctx)
				for i := 0; i < pipelined; i++ {
					pl.SendQueryParams("SELECT $1::int", [][]byte{[]byte(strconv.Itoa(i))}, nil, nil, nil)
					if (i+1)%every == 0 {
						pl.SendPipelineSync()
					}
				}
				if err := pl.Flush(); err != nil {
					t.Fatal(err)
				}
				got, syncs := 0, 0
				for got < pipelined || syncs < pipelined/every {
					res, err := pl.GetResults()
					if err != nil {
						t.Fatalf("after %d results: %v", got, err)
					}
					switch r := res.(type) {
					case *pgconn.ResultReader:
						rr := r.Read()
						if rr.Err != nil {
							t.Fatalf("query %d: %v", got, rr.Err)
						}
						if len(rr.Rows) != 1 || string(rr.Rows[0][0]) != strconv.Itoa(got) {
							t.Fatalf("query %d returned %q", got, rr.Rows)
						}
						got++
					case *pgconn.PipelineSync:
						syncs++
					case nil:
						t.Fatalf("pipeline ran dry after %d results and %d syncs", got, syncs)
					}
				}
				if err := pl.Close(); err != nil {
					t.Fatal(err)
				}
				if v := one(t, ctx, c, "SELECT 'after pipeline'"); v != "after pipeline" {
					t.Fatal(v)
				}
			})
		}
	}
}

// TestPipelineErrorSkipsToSync: an error inside a pipelined batch discards
// the rest of the batch up to its Sync; the next batch runs.
func TestPipelineErrorSkipsToSync(t *testing.T) {
	p := startPool(t, poolSpec{role: "pooled_pipeline", mode: "transaction", size: 2})
	ctx := testCtx(t)
	c := p.conn(t, "")
	pl := c.StartPipeline(ctx)
	pl.SendQueryParams("SELECT 1", nil, nil, nil, nil)
	pl.SendQueryParams("SELECT 1/0", nil, nil, nil, nil)
	pl.SendQueryParams("SELECT 3", nil, nil, nil, nil)
	pl.SendPipelineSync()
	pl.SendQueryParams("SELECT 4", nil, nil, nil, nil)
	pl.SendPipelineSync()
	if err := pl.Flush(); err != nil {
		t.Fatal(err)
	}
	next := func() any {
		t.Helper()
		res, err := pl.GetResults()
		if err != nil {
			return err
		}
		if rr, ok := res.(*pgconn.ResultReader); ok {
			r := rr.Read()
			if r.Err != nil {
				return r.Err
			}
			return string(r.Rows[0][0])
		}
		return res
	}
	if v := next(); v != "1" {
		t.Fatalf("first: %v", v)
	}
	v := next()
	err, _ := v.(error)
	wantCode(t, "second", err, "22012")
	// The third query was skipped: its result slot reports the pipeline
	// moving on to the Sync.
	for {
		v = next()
		if _, ok := v.(*pgconn.PipelineSync); ok {
			break
		}
		if v == "3" {
			t.Fatal("query after the error in the same batch ran")
		}
		if v == nil {
			t.Fatal("no Sync after the failed batch")
		}
	}
	if v := next(); v != "4" {
		t.Fatalf("next batch: %v", v)
	}
	if _, ok := next().(*pgconn.PipelineSync); !ok {
		t.Fatal("no final Sync")
	}
	if err := pl.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestPipelineSimple writes 10 000 Query messages on a raw connection while
// the answers are read concurrently: 10 000 ReadyForQuery, results in order.
func TestPipelineSimple(t *testing.T) {
	for _, mode := range []string{"transaction", "statement"} {
		t.Run(mode, func(t *testing.T) {
			p := startPool(t, poolSpec{role: "pooled_pipeline", mode: mode, size: 2})
			conn := rawConn(t, p.addr)
			fe, _ := login(t, conn, nil)

			var buf []byte
			for i := 0; i < pipelined; i++ {
				buf, _ = (&pgproto3.Query{String: "SELECT " + strconv.Itoa(i)}).Encode(buf)
			}
			written := make(chan error, 1)
			go func() {
				_, err := conn.Write(buf)
				written <- err
			}()
			ready, rows := 0, 0
			for ready < pipelined {
				msg, err := fe.Receive()
				if err != nil {
					t.Fatalf("after %d ReadyForQuery: %v", ready, err)
				}
				switch m := msg.(type) {
				case *pgproto3.DataRow:
					if string(m.Values[0]) != strconv.Itoa(ready) {
						t.Fatalf("query %d returned %q", ready, m.Values[0])
					}
					rows++
				case *pgproto3.ErrorResponse:
					t.Fatalf("query %d: %s %s", ready, m.Code, m.Message)
				case *pgproto3.ReadyForQuery:
					if m.TxStatus != 'I' {
						t.Fatalf("ReadyForQuery %d status %q", ready, m.TxStatus)
					}
					if rows != ready+1 {
						t.Fatalf("ReadyForQuery %d after %d rows", ready, rows)
					}
					ready++
				}
			}
			if err := <-written; err != nil {
				t.Fatal(err)
			}
			if v := query(t, fe, "SELECT 'done'"); len(v) != 1 || v[0] != "done" {
				t.Fatalf("after the pipeline: %v", v)
			}
		})
	}
}

// TestExtendedFlushHoldsServer: Parse/Bind/Execute followed by Flush (no
// Sync) gets its results, and the server stays with the client until the
// Sync: the unnamed statement is still there for the next Bind, and another
// client waiting for the only server gets it only afterwards.
func TestExtendedFlushHoldsServer(t *testing.T) {
	const role = "pooled_flush"
	p := startPool(t, poolSpec{role: role, mode: "transaction", size: 1})
	ctx := testCtx(t)
	conn := rawConn(t, p.addr)
	fe, _ := login(t, conn, nil)
	other := p.conn(t, "") // logged in while the server is free

	fe.Send(&pgproto3.Parse{Query: "SELECT $1::int * 2"})
	fe.Send(&pgproto3.Bind{Parameters: [][]byte{[]byte("21")}})
	fe.Send(&pgproto3.Execute{})
	fe.Send(&pgproto3.Flush{})
	if err := fe.Flush(); err != nil {
		t.Fatal(err)
	}
	expectMsgs(t, fe, "ParseComplete", "BindComplete", "DataRow:42", "CommandComplete")

	otherDone := make(chan error, 1)
	go func() {
		_, err := simple(ctx, other, "SELECT 1")
		otherDone <- err
	}()
	// While the other client waits for the server, the unnamed statement
	// must still exist on ours.
	fe.Send(&pgproto3.Bind{Parameters: [][]byte{[]byte("50")}})
	fe.Send(&pgproto3.Execute{})
	fe.Send(&pgproto3.Sync{})
	if err := fe.Flush(); err != nil {
		t.Fatal(err)
	}
	expectMsgs(t, fe, "BindComplete", "DataRow:100", "CommandComplete", "ReadyForQuery")
	if err := <-otherDone; err != nil {
		t.Fatalf("the waiting client: %v", err)
	}
}

// expectMsgs reads messages and compares their kinds (and DataRow's first
// value) with want.
func expectMsgs(t *testing.T, fe *pgproto3.Frontend, want ...string) {
	t.Helper()
	for i, w := range want {
		msg, err := fe.Receive()
		if err != nil {
			t.Fatalf("message %d (want %s): %v", i, w, err)
		}
		got := fmt.Sprintf("%T", msg)[len("*pgproto3."):]
		switch m := msg.(type) {
		case *pgproto3.DataRow:
			got += ":" + string(m.Values[0])
		case *pgproto3.ErrorResponse:
			got += ":" + m.Code + " " + m.Message
		}
		if got != w {
			t.Fatalf("message %d: got %s, want %s", i, got, w)
		}
	}
}

// TestExtendedCopy: COPY FROM STDIN through the extended protocol the way
// libpq's PQexecParams does it: Parse/Bind/Execute/Sync sent at once (the
// Sync reaches the server in copy-in mode and is ignored), then the data,
// CopyDone and another Sync. Then the single server serves another client.
func TestExtendedCopy(t *testing.T) {
	p := startPool(t, poolSpec{role: "pooled_copy_ext", mode: "transaction", size: 1})
	ctx := testCtx(t)
	adminExec(t, "DROP TABLE IF EXISTS copy_ext; CREATE TABLE copy_ext (v int)")
	conn := rawConn(t, p.addr)
	fe, _ := login(t, conn, nil)
	fe.Send(&pgproto3.Parse{Query: "COPY copy_ext FROM STDIN"})
	fe.Send(&pgproto3.Bind{})
	fe.Send(&pgproto3.Execute{})
	fe.Send(&pgproto3.Sync{})
	if err := fe.Flush(); err != nil {
		t.Fatal(err)
	}
	expectMsgs(t, fe, "ParseComplete", "BindComplete", "CopyInResponse")
	for i := 1; i <= 100; i++ {
		fe.Send(&pgproto3.CopyData{Data: []byte(strconv.Itoa(i) + "\n")})
	}
	fe.Send(&pgproto3.CopyDone{})
	fe.Send(&pgproto3.Sync{})
	if err := fe.Flush(); err != nil {
		t.Fatal(err)
	}
	expectMsgs(t, fe, "CommandComplete", "ReadyForQuery")

	other := p.conn(t, "")
	if v := one(t, ctx, other, "SELECT sum(v) FROM copy_ext"); v != "5050" {
		t.Fatalf("sum after extended COPY: %s", v)
	}
	if rows := query(t, fe, "SELECT 'again'"); len(rows) != 1 || rows[0] != "again" {
		t.Fatalf("copying client afterwards: %v", rows)
	}
}
