package sqlparse

// Effect is a set of things a piece of SQL may do to its session that a
// transaction-mode pooler must notice (DESIGN §5): settings to read back,
// prepared statements that may be gone, and session state that pins a
// client to its server until it is released.
type Effect uint16

// Effects, one bit each.
const (
	// Settings: SET, RESET, DISCARD ALL, a set_config() call.
	Settings Effect = 1 << iota
	// Statements: DEALLOCATE, DISCARD ALL; SQL-level prepared statements
	// may be gone.
	Statements
	// Listen: LISTEN, UNLISTEN.
	Listen
	// AdvisoryLock: a call of a session-level advisory lock or unlock
	// function (pg_advisory_lock, pg_try_advisory_lock_shared,
	// pg_advisory_unlock_all, ...). The _xact_ variants end with their
	// transaction and do not count.
	AdvisoryLock
	// TempObject: CREATE TEMP ..., SELECT ... INTO TEMP, DISCARD TEMP and
	// DISCARD ALL, and any DROP (it may drop a temporary object).
	TempObject
	// HoldCursor: DECLARE ... WITH HOLD, and CLOSE (it may close one).
	HoldCursor
	// Prepare: PREPARE, DEALLOCATE.
	Prepare
)

// pinning is the effects that create or drop state that cannot move between
// servers.
const pinning = Listen | AdvisoryLock | TempObject | HoldCursor | Prepare

// All is every effect: what Classify reports for text it cannot scan.
const All = Settings | Statements | pinning

// State reports whether e may create or drop session state that pins a
// client to its server (LISTEN, advisory locks, temporary objects, WITH
// HOLD cursors, SQL-level prepared statements).
func (e Effect) State() bool { return e&pinning != 0 }

// Classify reports what the SQL text of a Query or Parse message may do to
// its session. It reads the statements with PostgreSQL's scanner, so words
// inside string constants, quoted identifiers and comments do not count, and
// looks at each statement's leading keywords and at function calls
// anywhere. Work done inside a function body or a DO block is invisible to
// it. Text the scanner rejects (PostgreSQL would reject it too) is reported
// as All, the answer that costs one extra check and never misses state.
//
// Most statements of a busy application (SELECT, INSERT, UPDATE without
// these words) are answered by a byte scan for the keywords involved,
// without calling the scanner.
func Classify(sql string) Effect {
	if !mayAffect(sql) {
		return 0
	}
	return classifyScanned(sql)
}

// classifyScanned is Classify without the fast path.
func classifyScanned(sql string) Effect {
	stmts, err := scan(sql)
	if err != nil {
		return All
	}
	var e Effect
	for _, st := range stmts {
		e |= classifyStatement(st.toks)
	}
	return e
}

// classifyStatement looks at one statement's tokens.
func classifyStatement(toks []token) Effect {
	var e Effect
	for i, t := range toks {
		if i+1 < len(toks) && toks[i+1].is('(') {
			switch w, _ := t.word(); w {
			case "set_config":
				e |= Settings
			case "pg_advisory_lock", "pg_advisory_lock_shared",
				"pg_try_advisory_lock", "pg_try_advisory_lock_shared",
				"pg_advisory_unlock", "pg_advisory_unlock_shared", "pg_advisory_unlock_all":
				e |= AdvisoryLock
			}
		}
	}
	switch toks[0].bare() {
	case "set", "reset":
		e |= Settings
	case "discard":
		switch word(toks, 1) {
		case "all":
			e |= All
		case "temp", "temporary":
			e |= TempObject
		}
	case "deallocate":
		e |= Statements | Prepare
	case "prepare":
		if word(toks, 1) != "transaction" { // PREPARE TRANSACTION is two-phase commit
			e |= Prepare
		}
	case "listen", "unlisten":
		e |= Listen
	case "declare":
		for i := 1; i+1 < len(toks); i++ {
			if toks[i].bare() == "with" && toks[i+1].bare() == "hold" {
				e |= HoldCursor
			}
		}
	case "close":
		e |= HoldCursor
	case "drop":
		e |= TempObject
	case "create":
		// CREATE [OR REPLACE] [GLOBAL | LOCAL] {TEMP | TEMPORARY} ...
		i := 1
		if word(toks, i) == "or" && word(toks, i+1) == "replace" {
			i += 2
		}
		if w := word(toks, i); w == "global" || w == "local" {
			i++
		}
		if w := word(toks, i); w == "temp" || w == "temporary" {
			e |= TempObject
		}
	case "select", "with":
		// SELECT ... INTO [GLOBAL | LOCAL] {TEMP | TEMPORARY} [TABLE] name
		for i := 1; i+1 < len(toks); i++ {
			if toks[i].bare() != "into" {
				continue
			}
			j := i + 1
			if w := word(toks, j); w == "global" || w == "local" {
				j++
			}
			if w := word(toks, j); w == "temp" || w == "temporary" {
				e |= TempObject
			}
		}
	}
	return e
}

// word returns toks[i].bare(), or "" past the end.
func word(toks []token, i int) string {
	if i < len(toks) {
		return toks[i].bare()
	}
	return ""
}

// mayAffect reports whether sql contains, in any case, one of the words at
// least one of which the text of every statement with an effect contains:
// set (also reset, set_config), discard, deallocate, drop, prepare, listen
// (also unlisten), hold (DECLARE ... WITH HOLD), close, temp (also
// temporary), advisory. It is the fast path of Classify: no false
// negatives, and no allocation.
func mayAffect(sql string) bool {
	for i := 0; i+3 <= len(sql); i++ {
		// Two lower-cased letters pick the candidate words. |0x20 maps
		// A-Z onto a-z and no other byte onto a letter.
		switch uint16(sql[i]|0x20)<<8 | uint16(sql[i+1]|0x20) {
		case 's'<<8 | 'e':
			if hasPrefixFold(sql[i:], "set") {
				return true
			}
		case 'd'<<8 | 'i':
			if hasPrefixFold(sql[i:], "discard") {
				return true
			}
		case 'd'<<8 | 'e':
			if hasPrefixFold(sql[i:], "deallocate") {
				return true
			}
		case 'd'<<8 | 'r':
			if hasPrefixFold(sql[i:], "drop") {
				return true
			}
		case 'p'<<8 | 'r':
			if hasPrefixFold(sql[i:], "prepare") {
				return true
			}
		case 'l'<<8 | 'i':
			if hasPrefixFold(sql[i:], "listen") {
				return true
			}
		case 'h'<<8 | 'o':
			if hasPrefixFold(sql[i:], "hold") {
				return true
			}
		case 'c'<<8 | 'l':
			if hasPrefixFold(sql[i:], "close") {
				return true
			}
		case 't'<<8 | 'e':
			if hasPrefixFold(sql[i:], "temp") {
				return true
			}
		case 'a'<<8 | 'd':
			if hasPrefixFold(sql[i:], "advisory") {
				return true
			}
		}
	}
	return false
}

// hasPrefixFold reports whether s starts with the lower-case ASCII word w,
// in any case.
func hasPrefixFold(s, w string) bool {
	if len(s) < len(w) {
		return false
	}
	for i := 0; i < len(w); i++ {
		if s[i]|0x20 != w[i] {
			return false
		}
	}
	return true
}
