package client

import (
	"errors"
)

// ServiceError is an error returned by the remote handler (or the remote framework, such as
// an unknown method), carried in the response. It is never retried and never breaks the
// connection.
type ServiceError string

// Error implements the error interface.
func (e ServiceError) Error() string { return string(e) }

// IsServiceError reports whether err is, or wraps, a ServiceError.
func IsServiceError(err error) bool {
	var se ServiceError
	return errors.As(err, &se)
}

// TransportError is a failure of the connection: dialling, writing, reading, a malformed
// frame from the server, a missed heartbeat, or the server going away. Calls that end with
// one may or may not have reached the handler.
type TransportError struct {
	Op  string // "dial", "write", "read"
	Err error
}

// Error implements the error interface.
func (e *TransportError) Error() string { return "brisk: " + e.Op + ": " + e.Err.Error() }

// Unwrap returns the underlying error, for errors.Is and errors.As.
func (e *TransportError) Unwrap() error { return e.Err }

// IsTransportError reports whether err is, or wraps, a *TransportError.
func IsTransportError(err error) bool {
	var te *TransportError
	return errors.As(err, &te)
}

var (
	// ErrShutdown means the client was closed; calls pending at that moment end with it.
	ErrShutdown = errors.New("brisk: client is closed")
	// ErrNotConnected means Call was used before a successful Connect.
	ErrNotConnected = errors.New("brisk: client is not connected")
	// ErrHeartbeatTimeout means the server did not answer a heartbeat in time.
	ErrHeartbeatTimeout = errors.New("brisk: heartbeat timed out")
	// ErrBadMethodName means a method name was not of the form "Service.Method".
	ErrBadMethodName = errors.New(`brisk: method name must be "Service.Method"`)
)
