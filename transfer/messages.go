package transfer

// The wire messages. An upload is, on its stream:
//
//	client → server: UploadRequest, then chunks ([]byte) totalling Size-Offset, then UploadTrailer
//	server → client: UploadAccept (after the request), then UploadResult (after the trailer)
//
// A download is:
//
//	client → server: DownloadRequest, then the end of its side
//	server → client: DownloadHeader, then chunks ([]byte) totalling Size-Offset, then DownloadTrailer
//
// A chunk is a bare byte string (msgpack bin), so no per-chunk envelope is encoded or
// decoded. Either side ends the stream with an error instead of the next message when
// something goes wrong.

// UploadRequest opens an upload.
type UploadRequest struct {
	// Name is the file's path under the service's directory, slash-separated.
	Name string `msgpack:"name" json:"name"`
	// Size is the file's total size in bytes.
	Size int64 `msgpack:"size" json:"size"`
	// Offset is where the chunks start: the partial file is cut to Offset (which must not
	// exceed its size) and continued. Ignored when Resume is set.
	Offset int64 `msgpack:"offset" json:"offset"`
	// Resume asks the server to continue at the end of the partial file, whatever its size.
	Resume bool `msgpack:"resume" json:"resume"`
}

// UploadAccept is the server's answer to an UploadRequest: send from Offset on.
type UploadAccept struct {
	// Offset is the first byte the server expects.
	Offset int64 `msgpack:"offset" json:"offset"`
}

// UploadTrailer follows the last chunk of an upload.
type UploadTrailer struct {
	// SHA256 is the digest of the whole file (not only of the bytes sent this time). An
	// empty digest skips the check.
	SHA256 []byte `msgpack:"sha256" json:"sha256"`
}

// UploadResult is the server's last message of a completed upload.
type UploadResult struct {
	// Size is the size of the stored file.
	Size int64 `msgpack:"size" json:"size"`
	// SHA256 is the stored file's digest.
	SHA256 []byte `msgpack:"sha256" json:"sha256"`
}

// DownloadRequest opens a download.
type DownloadRequest struct {
	// Name is the file's path under the service's directory, slash-separated.
	Name string `msgpack:"name" json:"name"`
	// Offset is the first byte wanted; it may equal the file's size (nothing to send).
	Offset int64 `msgpack:"offset" json:"offset"`
}

// DownloadHeader is the server's first message of a download.
type DownloadHeader struct {
	// Size is the file's total size; the chunks that follow total Size-Offset bytes.
	Size int64 `msgpack:"size" json:"size"`
	// Offset repeats the request's offset.
	Offset int64 `msgpack:"offset" json:"offset"`
}

// DownloadTrailer follows the last chunk of a download.
type DownloadTrailer struct {
	// SHA256 is the digest of the whole file, from byte 0.
	SHA256 []byte `msgpack:"sha256" json:"sha256"`
}

// StatRequest is the argument of the unary Stat method.
type StatRequest struct {
	// Name is the file's path under the service's directory, slash-separated.
	Name string `msgpack:"name" json:"name"`
}

// FileInfo is what Stat reports about a name: the stored file, the partial upload, or both.
type FileInfo struct {
	// Complete says a stored (completely uploaded) file exists.
	Complete bool `msgpack:"complete" json:"complete"`
	// Size is the stored file's size.
	Size int64 `msgpack:"size" json:"size"`
	// Partial says an unfinished upload exists.
	Partial bool `msgpack:"partial" json:"partial"`
	// PartialSize is how much of the unfinished upload arrived: the offset an upload with
	// Resume continues from.
	PartialSize int64 `msgpack:"partial_size" json:"partial_size"`
}
