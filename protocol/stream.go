package protocol

// StreamService is the service path of every frame of a brisk stream (see docs/PROTOCOL.md):
// the frame's seq is the stream's id and its service method says what the frame does. It is
// under brisk's reserved prefix, so rpcx peers that never open a stream never see one, and
// an rpcx server answers an attempt to open one with its usual unknown-service error.
const StreamService = "_brisk.Stream"

// Stream frame kinds: the service method of a StreamService frame (see docs/PROTOCOL.md).
const (
	StreamOpen   = "open"   // client → server: open a stream; metadata names the method
	StreamMsg    = "msg"    // either way: one message
	StreamEOF    = "eof"    // client → server: half-close
	StreamWindow = "win"    // either way: a credit grant
	StreamCancel = "cancel" // client → server: the client gave the stream up
	StreamEnd    = "end"    // server → client: the method returned
)

// internStreamKind returns the method as a string, without allocating for the kinds of
// stream frames, which arrive by the thousand.
func internStreamKind(path string, method []byte) string {
	if path == StreamService {
		switch string(method) {
		case StreamMsg:
			return StreamMsg
		case StreamWindow:
			return StreamWindow
		case StreamEOF:
			return StreamEOF
		case StreamEnd:
			return StreamEnd
		case StreamOpen:
			return StreamOpen
		case StreamCancel:
			return StreamCancel
		}
	}
	return string(method)
}
