package console

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/jackc/pgx/v5/pgtype"
)

// Type OIDs of result columns (pg_type.dat); timestamps are sent as text,
// as PgBouncer sends them.
const (
	oidBool    = pgtype.BoolOID    // 16
	oidBytea   = pgtype.ByteaOID   // 17
	oidInt8    = pgtype.Int8OID    // 20
	oidInt4    = pgtype.Int4OID    // 23
	oidText    = pgtype.TextOID    // 25
	oidNumeric = pgtype.NumericOID // 1700
)

// column is one column of a result set.
type column struct {
	name string
	oid  uint32
}

// columns builds a column list from a type string in the style of
// PgBouncer's pktbuf_write_RowDescription, so that the tables below read
// like PgBouncer's source: s text, i int4, q int8, N numeric, T timestamp
// (sent as text), b bytea; and B bool, which PgBouncer does not use.
func columns(types string, names ...string) []column {
	if len(types) != len(names) {
		panic(fmt.Sprintf("console: %d types for %d columns", len(types), len(names)))
	}
	cols := make([]column, len(names))
	for i, n := range names {
		var oid uint32
		switch types[i] {
		case 's', 'T':
			oid = oidText
		case 'i':
			oid = oidInt4
		case 'q':
			oid = oidInt8
		case 'N':
			oid = oidNumeric
		case 'b':
			oid = oidBytea
		case 'B':
			oid = oidBool
		default:
			panic("console: unknown column type " + string(types[i]))
		}
		cols[i] = column{name: n, oid: oid}
	}
	return cols
}

// result is what one command answers: notices, then (for a query) a row
// description and rows, then its command tag.
type result struct {
	notices []*pgproto3.NoticeResponse
	cols    []column // nil: the command returns no rows (NoData)
	rows    [][]any  // cells: nil (NULL), string, int64, uint64, bool, time.Time, time.Duration
	tag     string
	// end: the session ends once this result is sent (SHUTDOWN).
	end bool
}

// rowDescription describes cols with the given result format codes
// (Bind's rules: none means text, one applies to all).
func rowDescription(cols []column, formats []int16) *pgproto3.RowDescription {
	rd := &pgproto3.RowDescription{Fields: make([]pgproto3.FieldDescription, len(cols))}
	for i, c := range cols {
		size := int16(-1)
		switch c.oid {
		case oidInt4:
			size = 4
		case oidInt8:
			size = 8
		case oidBool:
			size = 1
		}
		rd.Fields[i] = pgproto3.FieldDescription{
			Name: []byte(c.name), DataTypeOID: c.oid, DataTypeSize: size, TypeModifier: -1,
			Format: formatOf(formats, i),
		}
	}
	return rd
}

// formatOf is the format code of column i.
func formatOf(formats []int16, i int) int16 {
	switch len(formats) {
	case 0:
		return pgtype.TextFormatCode
	case 1:
		return formats[0]
	}
	return formats[i]
}

// encoder turns cells into DataRow values. It holds a pgtype.Map, which is
// not safe for concurrent use: one encoder per session.
type encoder struct {
	types *pgtype.Map
}

func newEncoder() *encoder { return &encoder{types: pgtype.NewMap()} }

// dataRow encodes one row in the given formats.
func (e *encoder) dataRow(cols []column, row []any, formats []int16) (*pgproto3.DataRow, error) {
	dr := &pgproto3.DataRow{Values: make([][]byte, len(cols))}
	for i, c := range cols {
		var v any
		if i < len(row) {
			v = row[i]
		}
		b, err := e.encode(c, v, formatOf(formats, i))
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", c.name, err)
		}
		dr.Values[i] = b
	}
	return dr, nil
}

// encode encodes one cell; nil is NULL. int4 columns saturate at the int32
// range: PgBouncer's int4 counters cannot overflow in practice, ours are
// int, and saturating keeps one large value from failing a whole SHOW.
func (e *encoder) encode(c column, v any, format int16) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	switch x := v.(type) {
	case time.Time:
		if x.IsZero() {
			return nil, nil
		}
		v = x.UTC().Format("2006-01-02 15:04:05 UTC")
	case time.Duration:
		v = x.Microseconds()
	}
	if format == pgtype.TextFormatCode {
		return []byte(text(c, v)), nil
	}
	switch c.oid {
	case oidText, oidBytea:
		return []byte(text(c, v)), nil
	case oidInt4:
		n, ok := asInt64(v)
		if !ok {
			return nil, fmt.Errorf("cannot encode %T as int4", v)
		}
		return binary.BigEndian.AppendUint32(nil, uint32(clampInt32(n))), nil
	case oidInt8:
		n, ok := asInt64(v)
		if !ok {
			return nil, fmt.Errorf("cannot encode %T as int8", v)
		}
		return binary.BigEndian.AppendUint64(nil, uint64(n)), nil
	case oidBool:
		if b, ok := v.(bool); ok && b {
			return []byte{1}, nil
		}
		return []byte{0}, nil
	case oidNumeric:
		var n pgtype.Numeric
		switch x := v.(type) {
		case uint64:
			n = pgtype.Numeric{Int: new(big.Int).SetUint64(x), Valid: true}
		case int64:
			n = pgtype.Numeric{Int: big.NewInt(x), Valid: true}
		default:
			return nil, fmt.Errorf("cannot encode %T as numeric", v)
		}
		return e.types.Encode(oidNumeric, pgtype.BinaryFormatCode, n, nil)
	}
	return nil, fmt.Errorf("unknown type oid %d", c.oid)
}

// text renders a cell in text format.
func text(c column, v any) string {
	switch x := v.(type) {
	case string:
		return x
	case bool:
		if c.oid == oidBool {
			if x {
				return "t"
			}
			return "f"
		}
		return strconv.FormatBool(x)
	case uint64:
		return strconv.FormatUint(x, 10)
	case int64:
		if c.oid == oidInt4 {
			x = clampInt32(x)
		}
		return strconv.FormatInt(x, 10)
	}
	return fmt.Sprint(v)
}

func asInt64(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case uint64:
		if x > math.MaxInt64 {
			return math.MaxInt64, true
		}
		return int64(x), true
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

func clampInt32(n int64) int64 {
	return max(math.MinInt32, min(n, math.MaxInt32))
}

// i64 converts an int for a cell.
func i64(n int) int64 { return int64(n) }

// boolInt is PgBouncer's 0/1 for flags in int4 columns.
func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// nullable is NULL for "".
func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}
