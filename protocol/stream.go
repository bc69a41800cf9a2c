package protocol

// StreamService is the service path of every frame of a brisk stream (see docs/PROTOCOL.md):
// the frame's seq is the stream's id and its service method says what the frame does. It is
// under brisk's reserved prefix, so rpcx peers that never open a stream never see one, and
// an rpcx server answers an attempt to open one with its usual unknown-service error.
const StreamService = "_brisk.Stream"
