package relay

import "testing"

// TestUnaskedParameterStatusForgetsLoginAnswers: the first login teaches
// the pool its ParameterStatus set. A ParameterStatus that follows a SET
// the client asked for keeps it; one the client's request was not seen to
// ask for (a SET run by EXECUTE inside a DO block, which the lexical check
// misses, stands in for a reload or a promotion on the server's side)
// makes the pool forget it.
func TestUnaskedParameterStatusForgetsLoginAnswers(t *testing.T) {
	p := newPool(t, 1)
	tc := startClient(t, p, Options{Mode: TransactionMode})
	key := settingsKey(nil)
	if _, ok := p.Params(key); !ok {
		t.Fatal("the first login taught the pool nothing")
	}
	tc.exec(t, "SET application_name = 'asked'")
	if _, ok := p.Params(key); !ok {
		t.Fatal("forgotten after a SET the client asked for")
	}
	tc.exec(t, `DO $$BEGIN EXECUTE 'SET application_name = ''unasked'''; END$$`)
	if _, ok := p.Params(key); ok {
		t.Fatal("still remembered after a ParameterStatus nobody asked for")
	}
}
