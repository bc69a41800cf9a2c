// Package transfer moves files over brisk streams: a server-side Service that stores files
// under one directory, and client-side Upload, Download and Stat functions, with resumption
// from an offset, progress callbacks and an end-to-end SHA-256 check.
//
// The server registers a Service like any other:
//
//	svc, err := transfer.NewService("/srv/files", transfer.WithMaxSize(1<<30))
//	if err != nil { ... }
//	defer svc.Close()
//	s := server.NewServer()
//	s.RegisterName("Files", svc, "")
//
// It serves stream methods Upload and Download and a unary Stat. Every name is a
// slash-separated path relative to the directory, opened through an os.Root, so neither
// "..", an absolute path nor a symbolic link can reach outside it (ErrBadName).
//
// A client uploads from an io.ReaderAt and downloads into an io.Writer:
//
//	f, _ := os.Open("video.mp4")
//	fi, _ := f.Stat()
//	res, err := transfer.Upload(ctx, c, "Files", "videos/video.mp4", f, fi.Size(),
//		transfer.Resume(), transfer.Progress(func(done, total int64) { ... }))
//
//	out, _ := os.OpenFile("video.mp4", os.O_RDWR|os.O_CREATE, 0o644)
//	res, err = transfer.Download(ctx, c, "Files", "videos/video.mp4", out, transfer.Resume())
//
// An upload is written to name + ".part" and renamed to name only once every byte arrived
// and the SHA-256 the client computed matches; an interrupted upload leaves the partial
// file, and Upload with Resume continues where it ends. Download with Resume continues at
// the end of the local file.
//
// Errors the server reports come back as errors that match the package's sentinels with
// errors.Is (ErrNotFound, ErrBadName, ErrOffset, ErrTooLarge, ErrReadOnly, ErrDenied,
// ErrChecksum, ErrProtocol) and are also client.ServiceErrors. The wire messages are
// described in docs/TRANSFER.md and by the message types of this package; they work with
// the msgpack (default) and JSON codecs.
package transfer
