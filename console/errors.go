package console

import (
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgproto3"
)

// SQLSTATE codes the console answers with
// (https://www.postgresql.org/docs/current/errcodes-appendix.html).
const (
	codeProtocolViolation   = "08P01"
	codeSyntaxError         = "42601"
	codeInsufficientPriv    = "42501"
	codeUndefinedObject     = "42704"
	codeInvalidCatalogName  = "3D000"
	codeInvalidParameter    = "22023"
	codeNotInPrerequisite   = "55000"
	codeQueryCanceled       = "57014"
	codeAdminShutdown       = "57P01"
	codeConfigFileError     = "F0000"
	codeInternalError       = "XX000"
	codeUndefinedPrepStmt   = "26000"
	codeUndefinedCursor     = "34000"
	codeDuplicatePrepStmt   = "42P05"
	codeDuplicateCursor     = "42P03"
	codeSuccessfulNotice    = "00000"
	codeActiveTransaction   = "25001"
	codeNoActiveTransaction = "25P01"
	codeInFailedTransaction = "25P02"
)

// Error is an ERROR the console sends: the session continues. Source
// implementations return it to choose the SQLSTATE.
type Error struct {
	Code    string // SQLSTATE
	Message string
	Detail  string
	Hint    string
}

// Errorf returns an *Error with SQLSTATE code.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

func (e *Error) Error() string { return e.Message + " (SQLSTATE " + e.Code + ")" }

// Response returns e as the protocol message.
func (e *Error) Response() *pgproto3.ErrorResponse {
	return &pgproto3.ErrorResponse{
		Severity:            "ERROR",
		SeverityUnlocalized: "ERROR",
		Code:                e.Code,
		Message:             e.Message,
		Detail:              e.Detail,
		Hint:                e.Hint,
	}
}

// UnknownDatabase is the error for a database that is not configured
// (PAUSE nosuch), as PgBouncer words it.
func UnknownDatabase(name string) *Error {
	return Errorf(codeInvalidCatalogName, "no such database: %s", name)
}

// UnknownClient is the error of KILL_CLIENT for an id no client has.
func UnknownClient(id int64) *Error {
	return Errorf(codeUndefinedObject, "client not found: %d", id)
}

// UnknownSetting is the error of SET for a key that does not exist, as
// PostgreSQL words it.
func UnknownSetting(key string) *Error {
	return Errorf(codeUndefinedObject, "unrecognized configuration parameter %q", key)
}

// InvalidValue is the error of SET for a value the setting does not take,
// or a setting that cannot change at run time; reason says which.
func InvalidValue(key, reason string) *Error {
	return &Error{Code: codeInvalidParameter, Message: fmt.Sprintf("invalid value for parameter %q", key), Detail: reason}
}

// NotInState is the error for a control verb that does not apply now
// (RESUME when nothing is paused, PAUSE while suspended).
func NotInState(format string, args ...any) *Error {
	return Errorf(codeNotInPrerequisite, format, args...)
}

// responder is an error that carries its own ErrorResponse, as
// src/pgerr.Error does.
type responder interface {
	Response() *pgproto3.ErrorResponse
}

// errorResponse converts err to the message the client gets. Errors without
// a SQLSTATE of their own get fallback.
func errorResponse(err error, fallback string) *pgproto3.ErrorResponse {
	var r responder
	var resp *pgproto3.ErrorResponse
	if errors.As(err, &r) {
		resp = r.Response()
	} else {
		resp = Errorf(fallback, "%s", err.Error()).Response()
	}
	// The console never ends a session with a Source's error.
	resp.Severity, resp.SeverityUnlocalized = "ERROR", "ERROR"
	// Protocol strings end at NUL: a NUL inside would cut the message.
	resp.Message = strings.ReplaceAll(resp.Message, "\x00", "")
	resp.Detail = strings.ReplaceAll(resp.Detail, "\x00", "")
	resp.Hint = strings.ReplaceAll(resp.Hint, "\x00", "")
	return resp
}
