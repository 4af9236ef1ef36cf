package pgerr

import (
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgproto3"
)

// SQLSTATE codes the pooler generates.
const (
	ProtocolViolation          = "08P01"
	ConnectionFailure          = "08006"
	ConnectionUnableToConnect  = "08001"
	InvalidAuthSpec            = "28000"
	InvalidPassword            = "28P01"
	InvalidCatalogName         = "3D000"
	TooManyConnections         = "53300"
	AdminShutdown              = "57P01"
	QueryCanceled              = "57014"
	FeatureNotSupported        = "0A000"
	InsufficientPrivilege      = "42501"
	SyntaxError                = "42601"
	ConfigFileError            = "F0000"
	InternalError              = "XX000"
	ObjectNotInPrerequisite    = "55000"
	IdleInTransactionTimeout   = "25P03"
	IdleSessionTimeout         = "57P05"
	InvalidParameterValue      = "22023"
	ActiveSQLTransaction       = "25001"
	CannotConnectNow           = "57P03"
	UndefinedObject            = "42704"
	InvalidTransactionState    = "25000"
	InvalidAuthorizationMethod = "28000"
	CantChangeRuntimeParam     = "55P02"
)

// conditions are PostgreSQL's condition names of the codes above
// (https://www.postgresql.org/docs/current/errcodes-appendix.html).
var conditions = map[string]string{
	ProtocolViolation:         "protocol_violation",
	ConnectionFailure:         "connection_failure",
	ConnectionUnableToConnect: "sqlclient_unable_to_establish_sqlconnection",
	InvalidAuthSpec:           "invalid_authorization_specification",
	InvalidPassword:           "invalid_password",
	InvalidCatalogName:        "invalid_catalog_name",
	TooManyConnections:        "too_many_connections",
	AdminShutdown:             "admin_shutdown",
	QueryCanceled:             "query_canceled",
	FeatureNotSupported:       "feature_not_supported",
	InsufficientPrivilege:     "insufficient_privilege",
	SyntaxError:               "syntax_error",
	ConfigFileError:           "config_file_error",
	InternalError:             "internal_error",
	ObjectNotInPrerequisite:   "object_not_in_prerequisite_state",
	IdleInTransactionTimeout:  "idle_in_transaction_session_timeout",
	IdleSessionTimeout:        "idle_session_timeout",
	InvalidParameterValue:     "invalid_parameter_value",
	ActiveSQLTransaction:      "active_sql_transaction",
	CannotConnectNow:          "cannot_connect_now",
	UndefinedObject:           "undefined_object",
	InvalidTransactionState:   "invalid_transaction_state",
	CantChangeRuntimeParam:    "cant_change_runtime_param",
}

// Condition is PostgreSQL's name for a SQLSTATE the pooler uses, or "".
func Condition(code string) string { return conditions[code] }

// Error is an error the pooler reports to a client.
type Error struct {
	Severity string // ERROR, FATAL or PANIC
	Code     string // SQLSTATE
	Message  string
	Detail   string
	Hint     string
}

// Errorf returns an ERROR (the session continues).
func Errorf(code, format string, args ...any) *Error {
	return &Error{Severity: "ERROR", Code: code, Message: fmt.Sprintf(format, args...)}
}

// Fatalf returns a FATAL error (the pooler closes the session after sending it).
func Fatalf(code, format string, args ...any) *Error {
	return &Error{Severity: "FATAL", Code: code, Message: fmt.Sprintf(format, args...)}
}

func (e *Error) Error() string {
	if e.Detail != "" {
		return fmt.Sprintf("%s: %s (SQLSTATE %s): %s", e.Severity, e.Message, e.Code, e.Detail)
	}
	return fmt.Sprintf("%s: %s (SQLSTATE %s)", e.Severity, e.Message, e.Code)
}

// Fatal reports whether the client's session ends with this error.
func (e *Error) Fatal() bool { return e.Severity == "FATAL" || e.Severity == "PANIC" }

// WithDetail returns a copy of e with a detail line.
func (e *Error) WithDetail(format string, args ...any) *Error {
	c := *e
	c.Detail = fmt.Sprintf(format, args...)
	return &c
}

// Response converts e to the protocol message.
func (e *Error) Response() *pgproto3.ErrorResponse {
	return &pgproto3.ErrorResponse{
		Severity:            e.Severity,
		SeverityUnlocalized: e.Severity,
		Code:                e.Code,
		Message:             e.Message,
		Detail:              e.Detail,
		Hint:                e.Hint,
	}
}

// AppendFrame appends e as an ErrorResponse frame to dst.
func (e *Error) AppendFrame(dst []byte) []byte {
	b, err := e.Response().Encode(dst)
	if err != nil {
		// Encode fails only for oversized fields, which pooler messages never have.
		panic(err)
	}
	return b
}

// FromResponse converts an ErrorResponse received from PostgreSQL, so that
// it can be reported to a client on another connection.
func FromResponse(r *pgproto3.ErrorResponse) *Error {
	sev := r.SeverityUnlocalized
	if sev == "" {
		sev = r.Severity
	}
	return &Error{Severity: sev, Code: r.Code, Message: r.Message, Detail: r.Detail, Hint: r.Hint}
}

// As returns the *Error in err's chain, if any.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
