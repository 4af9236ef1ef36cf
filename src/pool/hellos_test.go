package pool

import (
	"context"
	"strconv"
	"sync"
	"testing"
)

// TestParamsForgottenAtDial: a login answer is kept per settings key until
// the pool dials a server, which may be another PostgreSQL.
func TestParamsForgottenAtDial(t *testing.T) {
	p := newPool(t, &dialer{}, Options{Size: 2})
	if _, ok := p.Params("a"); ok {
		t.Fatal("a fresh pool knows a login answer")
	}
	first := mustAcquire(t, p) // dialled before anything was learned
	p.LearnParams("a", map[string]string{"server_version": "15.1"})
	p.LearnParams("b", map[string]string{"server_version": "15.1", "DateStyle": "ISO, DMY"})
	if got, ok := p.Params("b"); !ok || got["DateStyle"] != "ISO, DMY" {
		t.Fatalf("Params(b) = %v, %v", got, ok)
	}
	if got, ok := p.Params("a"); !ok || got["server_version"] != "15.1" {
		t.Fatalf("Params(a) = %v, %v", got, ok)
	}
	p.Release(first)
	again := mustAcquire(t, p) // the idle server: no dial
	if _, ok := p.Params("a"); !ok {
		t.Fatal("forgotten without a dial")
	}
	second := mustAcquire(t, p) // dials
	if _, ok := p.Params("a"); ok {
		t.Fatal("still known after a dial")
	}
	p.Release(again)
	p.Release(second)
}

// TestParamsBounded: past maxHellos keys the pool starts afresh rather than
// grow with every distinct application_name.
func TestParamsBounded(t *testing.T) {
	p := newPool(t, &dialer{}, Options{Size: 1})
	for i := range 3 * maxHellos {
		p.LearnParams(strconv.Itoa(i), map[string]string{})
		if m := p.hellos.m.Load(); m == nil || len(*m) > maxHellos {
			t.Fatalf("after %d keys: %v", i+1, m)
		}
		if _, ok := p.Params(strconv.Itoa(i)); !ok {
			t.Fatalf("key %d not kept", i)
		}
	}
}

// TestParamsConcurrent: readers and writers at once, for the race detector.
func TestParamsConcurrent(t *testing.T) {
	p := newPool(t, &dialer{}, Options{Size: 4})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				key := strconv.Itoa((g*200 + i) % 100)
				if _, ok := p.Params(key); !ok {
					p.LearnParams(key, map[string]string{"k": key})
				}
				if i%50 == 0 {
					srv, err := p.Acquire(context.Background())
					if err != nil {
						t.Error(err)
						return
					}
					p.Release(srv)
				}
			}
		}()
	}
	wg.Wait()
}
