package console

import (
	"context"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/odyssey-go/odyssey/sqlparse"
)

// The extended query protocol
// (https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-EXT-QUERY),
// enough for drivers in their default modes: pgx prepares with
// Parse+Describe+Sync and runs with Bind+Execute+Sync, JDBC and psycopg
// send Parse+Bind+Describe+Execute+Sync. Parameters are accepted and
// ignored: no console command takes one. After an error every message up to
// Sync is ignored, as PostgreSQL does.

// prepared is a statement made by Parse.
type prepared struct {
	cmd *sqlparse.Command // nil for an empty query
}

// portal is a statement bound by Bind. Its rows are made by the first
// Execute; an Execute with a row limit leaves the rest for the next.
type portal struct {
	stmt    *prepared
	formats []int16 // result format codes
	res     *result // nil until the first Execute
	sent    int     // rows sent so far
}

func (s *session) fail(err error) {
	s.sendError(err)
	s.skipping = true
}

func (s *session) parse(m *pgproto3.Parse) {
	if _, ok := s.stmts[m.Name]; ok && m.Name != "" {
		s.fail(Errorf(codeDuplicatePrepStmt, "prepared statement %q already exists", m.Name))
		return
	}
	cmds, err := sqlparse.ParseAll(m.Query)
	switch {
	case err != nil:
		s.fail(parseError(err))
		return
	case len(cmds) > 1:
		s.fail(parseError(sqlparse.ErrMultipleCommands))
		return
	}
	p := &prepared{}
	if len(cmds) == 1 {
		p.cmd = &cmds[0]
	}
	s.stmts[m.Name] = p
	s.be.Send(&pgproto3.ParseComplete{})
}

func (s *session) bind(m *pgproto3.Bind) {
	p, ok := s.stmts[m.PreparedStatement]
	if !ok {
		s.fail(Errorf(codeUndefinedPrepStmt, "prepared statement %q does not exist", m.PreparedStatement))
		return
	}
	if _, ok := s.portals[m.DestinationPortal]; ok && m.DestinationPortal != "" {
		s.fail(Errorf(codeDuplicateCursor, "cursor %q already exists", m.DestinationPortal))
		return
	}
	for _, f := range m.ResultFormatCodes {
		if f != pgtype.TextFormatCode && f != pgtype.BinaryFormatCode {
			s.fail(Errorf(codeProtocolViolation, "unsupported format code: %d", f))
			return
		}
	}
	// m is reused by the next Receive: keep a copy of what stays.
	formats := append([]int16(nil), m.ResultFormatCodes...)
	s.portals[m.DestinationPortal] = &portal{stmt: p, formats: formats}
	s.be.Send(&pgproto3.BindComplete{})
}

// checkFormats applies Bind's rule: no format code, one for all columns,
// or one per column.
func checkFormats(formats []int16, cols []column) error {
	if n := len(formats); n > 1 && n != len(cols) {
		return Errorf(codeProtocolViolation, "bind message has %d result formats but query has %d columns", n, len(cols))
	}
	return nil
}

func (s *session) describe(m *pgproto3.Describe) {
	switch m.ObjectType {
	case 'S':
		p, ok := s.stmts[m.Name]
		if !ok {
			s.fail(Errorf(codeUndefinedPrepStmt, "prepared statement %q does not exist", m.Name))
			return
		}
		cols, err := s.columnsOf(p)
		if err != nil {
			s.fail(err)
			return
		}
		s.be.Send(&pgproto3.ParameterDescription{})
		s.sendDescription(cols, nil)
	case 'P':
		pt, ok := s.portals[m.Name]
		if !ok {
			s.fail(Errorf(codeUndefinedCursor, "portal %q does not exist", m.Name))
			return
		}
		cols, err := s.columnsOf(pt.stmt)
		if err == nil {
			err = checkFormats(pt.formats, cols)
		}
		if err != nil {
			s.fail(err)
			return
		}
		s.sendDescription(cols, pt.formats)
	default:
		s.fail(Errorf(codeProtocolViolation, "invalid DESCRIBE message subtype %d", m.ObjectType))
	}
}

func (s *session) columnsOf(p *prepared) ([]column, error) {
	if p.cmd == nil {
		return nil, nil
	}
	return s.describeCmd(p.cmd)
}

func (s *session) sendDescription(cols []column, formats []int16) {
	if cols == nil {
		s.be.Send(&pgproto3.NoData{})
		return
	}
	s.be.Send(rowDescription(cols, formats))
}

func (s *session) execute(ctx context.Context, m *pgproto3.Execute) (end bool, err error) {
	pt, ok := s.portals[m.Portal]
	if !ok {
		s.fail(Errorf(codeUndefinedCursor, "portal %q does not exist", m.Portal))
		return false, nil
	}
	if pt.stmt.cmd == nil {
		s.be.Send(&pgproto3.EmptyQueryResponse{})
		return false, nil
	}
	if pt.res == nil {
		res, err := s.exec(ctx, pt.stmt.cmd)
		if err != nil {
			if end, err := s.failed(ctx, err); end {
				return end, err
			}
			s.skipping = true
			return false, nil
		}
		if err := checkFormats(pt.formats, res.cols); err != nil {
			s.fail(err)
			return false, nil
		}
		for _, n := range res.notices {
			s.be.Send(n)
		}
		pt.res = res
	}
	res := pt.res
	rows := res.rows[pt.sent:]
	// As PostgreSQL: reaching the row limit suspends the portal even when
	// no row is left; the next Execute completes it.
	suspended := m.MaxRows > 0 && uint64(len(rows)) >= uint64(m.MaxRows)
	if suspended {
		rows = rows[:m.MaxRows]
	}
	if err := s.sendRows(res, rows, pt.formats); err != nil {
		s.skipping = true
		return false, nil
	}
	pt.sent += len(rows)
	if suspended {
		s.be.Send(&pgproto3.PortalSuspended{})
		return false, nil
	}
	s.be.Send(&pgproto3.CommandComplete{CommandTag: []byte(res.tag)})
	return res.end, nil
}

func (s *session) close(m *pgproto3.Close) {
	switch m.ObjectType {
	case 'S':
		delete(s.stmts, m.Name)
	case 'P':
		delete(s.portals, m.Name)
	default:
		s.fail(Errorf(codeProtocolViolation, "invalid CLOSE message subtype %d", m.ObjectType))
		return
	}
	s.be.Send(&pgproto3.CloseComplete{})
}
