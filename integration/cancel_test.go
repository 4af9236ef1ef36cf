package integration

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"
)

// TestCancelThroughPooler: a CancelRequest with the pooler-issued key
// cancels exactly the query of the client that holds the key, while other
// clients' queries on other servers of the same pool run to completion.
func TestCancelThroughPooler(t *testing.T) {
	for _, mode := range []string{"transaction", "session"} {
		t.Run(mode, func(t *testing.T) {
			role := "pooled_cancel_" + mode
			p := startPool(t, poolSpec{role: role, mode: mode, size: 10})
			ctx := testCtx(t)
			mon := admin(t)
			victim := p.conn(t, "")

			pid := one(t, ctx, victim, "SELECT pg_backend_pid()")
			if mode == "session" {
				if pid != strconv.Itoa(int(victim.PID())) {
					t.Errorf("session mode: BackendKeyData pid %d, pg_backend_pid() %s", victim.PID(), pid)
				}
			} else if victim.PID() == 0 || victim.PID() > math.MaxInt32 {
				t.Errorf("transaction mode: BackendKeyData pid %d does not fit a positive int4", victim.PID())
			}

			const others = 4
			var wg sync.WaitGroup
			otherErrs := make(chan error, others*3)
			start := make(chan struct{})
			for i := 0; i < others; i++ {
				c := p.conn(t, "")
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					for j := 0; j < 3; j++ {
						if v, err := simple(ctx, c, "SELECT pg_sleep(0.5), 'ok'"); err != nil {
							otherErrs <- err
						} else if len(v) != 1 {
							otherErrs <- fmt.Errorf("pg_sleep: %d rows", len(v))
						}
					}
				}()
			}

			done := make(chan error, 1)
			go func() {
				_, err := simple(ctx, victim, "SELECT pg_sleep(30)")
				done <- err
			}()
			waitServers(t, mon, role, "state = 'active' AND query = 'SELECT pg_sleep(30)'", 1, "victim's query running")
			close(start)
			if err := victim.CancelRequest(ctx); err != nil {
				t.Fatalf("CancelRequest: %v", err)
			}
			var err error
			select {
			case err = <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("pg_sleep(30) not cancelled 20s after the CancelRequest")
			}
			wantCode(t, "cancelled query", err, "57014")
			wg.Wait()
			close(otherErrs)
			for err := range otherErrs {
				t.Errorf("another client's query failed: %v", err)
			}
			if v := one(t, ctx, victim, "SELECT 'after cancel'"); v != "after cancel" {
				t.Fatalf("victim after cancel: %q", v)
			}
		})
	}
}

// TestCancelWithWrongKey: a CancelRequest whose secret does not match is
// ignored; the query it names runs to completion.
func TestCancelWithWrongKey(t *testing.T) {
	const role = "pooled_cancel_key"
	p := startPool(t, poolSpec{role: role, mode: "transaction", size: 2})
	ctx := testCtx(t)
	mon := admin(t)
	victim := p.conn(t, "")
	done := make(chan error, 1)
	go func() {
		_, err := simple(ctx, victim, "SELECT pg_sleep(2)")
		done <- err
	}()
	waitServers(t, mon, role, "state = 'active' AND query = 'SELECT pg_sleep(2)'", 1, "query running")
	secret := binary.BigEndian.Uint32(victim.SecretKey())
	for _, key := range [][2]uint32{{victim.PID(), secret + 1}, {victim.PID() + 1, secret}} {
		sendCancel(t, p.addr, key[0], key[1])
	}
	if err := <-done; err != nil {
		t.Fatalf("query named by a wrong cancel key: %v", err)
	}
}

// sendCancel sends a CancelRequest on a fresh connection and waits until the
// pooler closes it, which it does after handling the request.
func sendCancel(t *testing.T, addr string, pid, secret uint32) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(15 * time.Second))
	pkt := binary.BigEndian.AppendUint32(nil, 16)
	pkt = binary.BigEndian.AppendUint32(pkt, 80877102)
	pkt = binary.BigEndian.AppendUint32(pkt, pid)
	pkt = binary.BigEndian.AppendUint32(pkt, secret)
	if _, err := conn.Write(pkt); err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, conn)
	if err != nil {
		t.Fatalf("cancel connection not closed: %v", err)
	}
	if n != 0 {
		t.Fatalf("pooler answered a CancelRequest with %d bytes", n)
	}
}

// TestCancelIdleIsHarmless: cancelling a client that runs nothing must not
// hit whichever client uses its former server next.
func TestCancelIdleIsHarmless(t *testing.T) {
	const role = "pooled_cancel_idle"
	p := startPool(t, poolSpec{role: role, mode: "transaction", size: 1})
	ctx := testCtx(t)
	mon := admin(t)
	idle := p.conn(t, "")
	one(t, ctx, idle, "SELECT 1") // its server is back in the pool
	busy := p.conn(t, "")
	done := make(chan error, 1)
	go func() {
		_, err := simple(ctx, busy, "SELECT pg_sleep(1.5)")
		done <- err
	}()
	waitServers(t, mon, role, "state = 'active' AND query = 'SELECT pg_sleep(1.5)'", 1, "query running")
	sendCancel(t, p.addr, idle.PID(), binary.BigEndian.Uint32(idle.SecretKey()))
	if err := <-done; err != nil {
		t.Fatalf("cancel of an idle client hit another client's query on the same server: %v", err)
	}
}
