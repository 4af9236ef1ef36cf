package hba

import "testing"

// TestShippedExample keeps examples/pg_hba.conf loadable.
func TestShippedExample(t *testing.T) {
	if _, err := Load("../../../examples/pg_hba.conf"); err != nil {
		t.Fatal(err)
	}
}
