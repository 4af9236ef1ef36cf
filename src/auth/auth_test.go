package auth

import "testing"

// TestExchanges: the instance gives only exchanging methods a timeout
// context, so a method that waits must say so here.
func TestExchanges(t *testing.T) {
	for method, want := range map[string]bool{
		"": false, "none": false, "block": false, "cert": false,
		"clear_text": true, "md5": true, "scram-sha-256": true,
	} {
		if got := Exchanges(method); got != want {
			t.Errorf("Exchanges(%q) = %v, want %v", method, got, want)
		}
	}
}
