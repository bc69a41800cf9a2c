package transfer

import (
	"errors"
	"strings"

	"github.com/brisk-rpc/brisk/client"
)

// Errors of transfers. The server reports them as service errors whose text starts with the
// sentinel's text; the client functions turn such errors back into errors that match the
// sentinel with errors.Is (and still match client.ServiceError with errors.As).
var (
	// ErrNotFound means the file does not exist (or is not a regular file).
	ErrNotFound = errors.New("brisk/transfer: file not found")
	// ErrBadName means the name is empty, not a clean relative path, reaches outside the
	// service's directory (through "..", an absolute path or a symbolic link) or ends in
	// ".part", the suffix of partial uploads.
	ErrBadName = errors.New("brisk/transfer: bad file name")
	// ErrOffset means an offset lies beyond the file's (or the partial upload's) size.
	ErrOffset = errors.New("brisk/transfer: offset beyond size")
	// ErrTooLarge means the file exceeds the service's maximum size.
	ErrTooLarge = errors.New("brisk/transfer: file too large")
	// ErrReadOnly means the service accepts no uploads.
	ErrReadOnly = errors.New("brisk/transfer: service is read-only")
	// ErrDenied means the service's filter refused the operation.
	ErrDenied = errors.New("brisk/transfer: denied")
	// ErrChecksum means the SHA-256 of the transferred file does not match the sender's.
	// A failed upload's partial file is removed.
	ErrChecksum = errors.New("brisk/transfer: checksum mismatch")
	// ErrProtocol means a peer broke the message sequence: a stream that ended early, a
	// chunk past the announced size, an unexpected answer.
	ErrProtocol = errors.New("brisk/transfer: protocol violation")
)

// remoteError is a server's transfer error on the client: its text is the server's.
type remoteError struct {
	kind error
	se   client.ServiceError
}

func (e *remoteError) Error() string   { return string(e.se) }
func (e *remoteError) Unwrap() []error { return []error{e.kind, e.se} }

// fromRemote turns a service error carrying one of the sentinels' texts into an error
// matching that sentinel; other errors are returned as they are.
func fromRemote(err error) error {
	var se client.ServiceError
	if err == nil || !errors.As(err, &se) {
		return err
	}
	for _, s := range [...]error{ErrNotFound, ErrBadName, ErrOffset, ErrTooLarge, ErrReadOnly, ErrDenied, ErrChecksum, ErrProtocol} {
		if strings.HasPrefix(string(se), s.Error()) {
			return &remoteError{kind: s, se: se}
		}
	}
	return err
}
