package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/protocol"
	"github.com/brisk-rpc/brisk/server"
)

// StreamLoad is one bulk-transfer scenario: Streams transfers at once, each of Total bytes
// in chunks of Chunk bytes (the last one shorter if Chunk does not divide Total).
type StreamLoad struct {
	Total   int64 // bytes per stream
	Chunk   int
	Streams int
	// Timeout bounds the whole scenario (default 2 minutes).
	Timeout time.Duration
}

// StreamResult is what one transport did under one StreamLoad.
type StreamResult struct {
	Transport string
	Load      StreamLoad
	// Bytes is what the receiving side counted, over every stream.
	Bytes      int64
	Elapsed    time.Duration // from the first byte sent to the last stream's end
	Mallocs    uint64        // heap allocations in the process (both sides) over the transfer
	TotalAlloc uint64        // bytes allocated in the process (both sides) over the transfer
}

// MBps is the aggregate throughput in MB/s (10^6 bytes per second).
func (r *StreamResult) MBps() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Bytes) / 1e6 / r.Elapsed.Seconds()
}

// AllocBytesPerMB is the bytes allocated (both sides) per MB transferred.
func (r *StreamResult) AllocBytesPerMB() float64 {
	if r.Bytes == 0 {
		return 0
	}
	return float64(r.TotalAlloc) / (float64(r.Bytes) / 1e6)
}

// MallocsPerMB is the heap allocations (both sides) per MB transferred.
func (r *StreamResult) MallocsPerMB() float64 {
	if r.Bytes == 0 {
		return 0
	}
	return float64(r.Mallocs) / (float64(r.Bytes) / 1e6)
}

// StreamTransport moves bytes one way over loopback TCP.
type StreamTransport struct {
	Name        string
	Description string
	// setup starts the server side and dials, and returns run, which transfers l.Total
	// bytes on each of l.Streams streams at once and returns the bytes the receiving side
	// counted, and closeFn, which releases everything.
	setup func(l StreamLoad) (run func(ctx context.Context) (int64, error), closeFn func(), err error)
}

// StreamTransports are the transports RunStream knows, by name.
var StreamTransports = map[string]StreamTransport{
	"tcp": {
		Name:        "tcp",
		Description: "raw net.Conn: a goroutine writes chunks, the other side reads into a 64 KiB buffer and discards; K streams = K connections",
		setup:       setupTCP,
	},
	"brisk-up": {
		Name:        "brisk-up",
		Description: "brisk client stream, raw codec (SerializeNone): client Send(*[]byte) chunks, server Recv(&[]byte) until io.EOF; K streams on ONE connection",
		setup:       setupBrisk(false),
	},
	"brisk-down": {
		Name:        "brisk-down",
		Description: "brisk server stream, raw codec: server Send(*[]byte) chunks, client Recv(&[]byte) until io.EOF; K streams on ONE connection",
		setup:       setupBrisk(true),
	},
	"grpc-up": {
		Name:        "grpc-up",
		Description: "grpc-go client stream, default codec, wrapperspb.BytesValue per chunk (hand-written ServiceDesc); K streams on ONE ClientConn",
		setup:       setupGRPC(false),
	},
	"grpc-down": {
		Name:        "grpc-down",
		Description: "grpc-go server stream, as grpc-up in the other direction",
		setup:       setupGRPC(true),
	},
}

// LookupStreams returns the stream transports named in a comma-separated list, in its order.
func LookupStreams(list string) ([]StreamTransport, error) {
	return lookupNamed(list, StreamTransports, "stream transport")
}

// RunStream sets up t and transfers l once, measuring the transfer only (not set-up). It
// fails if the receiving side did not count exactly l.Total bytes per stream.
func RunStream(t StreamTransport, l StreamLoad) (*StreamResult, error) {
	if l.Total < 1 || l.Chunk < 1 || l.Streams < 1 {
		return nil, fmt.Errorf("need positive total, chunk and streams, have %d, %d and %d", l.Total, l.Chunk, l.Streams)
	}
	if l.Timeout <= 0 {
		l.Timeout = 2 * time.Minute
	}
	run, closeFn, err := t.setup(l)
	if err != nil {
		return nil, fmt.Errorf("%s: set up: %w", t.Name, err)
	}
	defer closeFn()
	ctx, cancel := context.WithTimeout(context.Background(), l.Timeout)
	defer cancel()

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	n, err := run(ctx)
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)
	res := &StreamResult{
		Transport:  t.Name,
		Load:       l,
		Bytes:      n,
		Elapsed:    elapsed,
		Mallocs:    after.Mallocs - before.Mallocs,
		TotalAlloc: after.TotalAlloc - before.TotalAlloc,
	}
	if err != nil {
		return res, fmt.Errorf("%s: %w", t.Name, err)
	}
	if want := l.Total * int64(l.Streams); n != want {
		return res, fmt.Errorf("%s: received %d bytes, want %d", t.Name, n, want)
	}
	return res, nil
}

// parallel runs fn(i) for i in [0,k) at once and sums what they return; the first error wins.
func parallel(k int, fn func(i int) (int64, error)) (int64, error) {
	var wg sync.WaitGroup
	ns := make([]int64, k)
	errs := make([]error, k)
	for i := range k {
		wg.Go(func() { ns[i], errs[i] = fn(i) })
	}
	wg.Wait()
	var total int64
	for _, n := range ns {
		total += n
	}
	return total, errors.Join(errs...)
}

// sendChunks calls send with chunk-sized slices of one buffer until total bytes went.
func sendChunks(total int64, chunk int, send func([]byte) error) error {
	buf := make([]byte, chunk)
	for i := range buf {
		buf[i] = byte(i)
	}
	for left := total; left > 0; {
		b := buf
		if int64(len(b)) > left {
			b = b[:left]
		}
		if err := send(b); err != nil {
			return err
		}
		left -= int64(len(b))
	}
	return nil
}

// ---- raw TCP ----

func setupTCP(l StreamLoad) (func(context.Context) (int64, error), func(), error) {
	ln, err := listen()
	if err != nil {
		return nil, nil, err
	}
	type accepted struct {
		c   net.Conn
		err error
	}
	acc := make(chan accepted, l.Streams)
	go func() {
		for range l.Streams {
			c, err := ln.Accept()
			acc <- accepted{c, err}
			if err != nil {
				return
			}
		}
	}()
	var clients, servers []net.Conn
	closeFn := func() {
		_ = ln.Close()
		for _, c := range append(clients, servers...) {
			_ = c.Close()
		}
	}
	for range l.Streams {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			closeFn()
			return nil, nil, err
		}
		clients = append(clients, c)
		a := <-acc
		if a.err != nil {
			closeFn()
			return nil, nil, a.err
		}
		servers = append(servers, a.c)
	}
	run := func(ctx context.Context) (int64, error) {
		stop := context.AfterFunc(ctx, closeFn)
		defer stop()
		return parallel(l.Streams, func(i int) (int64, error) {
			done := make(chan struct{})
			var n int64
			var rerr error
			go func() {
				defer close(done)
				n, rerr = discard(servers[i])
			}()
			werr := sendChunks(l.Total, l.Chunk, func(b []byte) error {
				_, err := clients[i].Write(b)
				return err
			})
			if werr == nil {
				werr = clients[i].(*net.TCPConn).CloseWrite()
			}
			if werr != nil {
				_ = servers[i].Close()
			}
			<-done
			return n, errors.Join(werr, rerr, ctx.Err())
		})
	}
	return run, closeFn, nil
}

// discard reads r to its end into a 64 KiB buffer and returns the byte count.
// (io.Copy(io.Discard, conn) reads 8 KiB at a time, io.Discard's own buffer, which costs
// more syscalls than brisk's 32 KiB buffered reader and large direct reads; that is no floor.)
func discard(r io.Reader) (int64, error) {
	buf := make([]byte, 64<<10)
	var n int64
	for {
		m, err := r.Read(buf)
		n += int64(m)
		if err == io.EOF {
			return n, nil
		} else if err != nil {
			return n, err
		}
	}
}

// ---- brisk ----

// BriskBulk is the brisk service of the stream benchmark; every message is raw bytes.
type BriskBulk struct{}

// Upload receives chunks until the client closes its side and answers with the byte count
// (8 bytes, big-endian).
func (*BriskBulk) Upload(_ context.Context, st *server.Stream) error {
	var buf []byte
	var n int64
	for {
		if err := st.Recv(&buf); err == io.EOF {
			break
		} else if err != nil {
			return err
		}
		n += int64(len(buf))
	}
	return st.Send(binary.BigEndian.AppendUint64(nil, uint64(n)))
}

// Download receives one 16-byte request (total and chunk size, big-endian) and sends total
// bytes in chunks of that size.
func (*BriskBulk) Download(_ context.Context, st *server.Stream) error {
	var req []byte
	if err := st.Recv(&req); err != nil {
		return err
	}
	if len(req) != 16 {
		return fmt.Errorf("want a 16-byte request, got %d bytes", len(req))
	}
	total, chunk := int64(binary.BigEndian.Uint64(req)), int(binary.BigEndian.Uint64(req[8:]))
	// A *[]byte, set per chunk: Send(b) with a []byte would allocate its slice header.
	p := new([]byte)
	return sendChunks(total, chunk, func(b []byte) error { *p = b; return st.Send(p) })
}

func downloadRequest(l StreamLoad) []byte {
	req := binary.BigEndian.AppendUint64(nil, uint64(l.Total))
	return binary.BigEndian.AppendUint64(req, uint64(l.Chunk))
}

func setupBrisk(down bool) func(StreamLoad) (func(context.Context) (int64, error), func(), error) {
	return func(l StreamLoad) (func(context.Context) (int64, error), func(), error) {
		s := server.NewServer()
		if err := s.RegisterName("Bulk", new(BriskBulk), ""); err != nil {
			return nil, nil, err
		}
		ln, err := listen()
		if err != nil {
			return nil, nil, err
		}
		go func() { _ = s.ServeListener(ln) }()
		opt := client.DefaultOption
		opt.SerializeType = protocol.SerializeNone
		c := client.NewClient(opt)
		closeFn := func() { _ = c.Close(); _ = s.Close() }
		if err := c.Connect("tcp", ln.Addr().String()); err != nil {
			closeFn()
			return nil, nil, err
		}
		run := func(ctx context.Context) (int64, error) {
			return parallel(l.Streams, func(int) (int64, error) {
				if down {
					return briskDownload(ctx, c, l)
				}
				return briskUpload(ctx, c, l)
			})
		}
		return run, closeFn, nil
	}
}

func briskUpload(ctx context.Context, c *client.Client, l StreamLoad) (int64, error) {
	st, err := c.NewStream(ctx, "Bulk.Upload")
	if err != nil {
		return 0, err
	}
	defer st.Close()
	p := new([]byte) // see Download
	if err := sendChunks(l.Total, l.Chunk, func(b []byte) error { *p = b; return st.Send(p) }); err != nil && err != io.EOF {
		return 0, err
	}
	if err := st.CloseSend(); err != nil {
		return 0, err
	}
	var reply []byte
	if err := st.Recv(&reply); err != nil {
		return 0, fmt.Errorf("receive the count: %w", err)
	}
	if len(reply) != 8 {
		return 0, fmt.Errorf("count of %d bytes, want 8", len(reply))
	}
	if err := st.Recv(&reply); err != io.EOF {
		return 0, fmt.Errorf("after the count: %v, want io.EOF", err)
	}
	return int64(binary.BigEndian.Uint64(reply)), nil
}

func briskDownload(ctx context.Context, c *client.Client, l StreamLoad) (int64, error) {
	st, err := c.NewStream(ctx, "Bulk.Download")
	if err != nil {
		return 0, err
	}
	defer st.Close()
	if err := st.Send(downloadRequest(l)); err != nil {
		return 0, err
	}
	if err := st.CloseSend(); err != nil {
		return 0, err
	}
	var buf []byte
	var n int64
	for {
		if err := st.Recv(&buf); err == io.EOF {
			return n, nil
		} else if err != nil {
			return n, err
		}
		n += int64(len(buf))
	}
}

// ---- grpc-go ----

// grpcBulkDesc is a hand-written service description (no protoc): Upload is a client
// stream of BytesValue answered by an Int64Value count, Download a server stream of
// BytesValue for one BytesValue request (total and chunk size, as brisk's).
var grpcBulkDesc = grpc.ServiceDesc{
	ServiceName: "bench.Bulk",
	HandlerType: (*any)(nil),
	Streams: []grpc.StreamDesc{
		{StreamName: "Upload", Handler: grpcUpload, ClientStreams: true},
		{StreamName: "Download", Handler: grpcDownload, ServerStreams: true},
	},
}

func grpcUpload(_ any, ss grpc.ServerStream) error {
	var n int64
	m := new(wrapperspb.BytesValue)
	for {
		if err := ss.RecvMsg(m); err == io.EOF {
			break
		} else if err != nil {
			return err
		}
		n += int64(len(m.Value))
	}
	return ss.SendMsg(wrapperspb.Int64(n))
}

func grpcDownload(_ any, ss grpc.ServerStream) error {
	req := new(wrapperspb.BytesValue)
	if err := ss.RecvMsg(req); err != nil {
		return err
	}
	if len(req.Value) != 16 {
		return fmt.Errorf("want a 16-byte request, got %d bytes", len(req.Value))
	}
	total, chunk := int64(binary.BigEndian.Uint64(req.Value)), int(binary.BigEndian.Uint64(req.Value[8:]))
	m := new(wrapperspb.BytesValue)
	return sendChunks(total, chunk, func(b []byte) error { m.Value = b; return ss.SendMsg(m) })
}

func setupGRPC(down bool) func(StreamLoad) (func(context.Context) (int64, error), func(), error) {
	return func(l StreamLoad) (func(context.Context) (int64, error), func(), error) {
		ln, err := listen()
		if err != nil {
			return nil, nil, err
		}
		s := grpc.NewServer()
		s.RegisterService(&grpcBulkDesc, struct{}{})
		go func() { _ = s.Serve(ln) }()
		cc, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			s.Stop()
			return nil, nil, err
		}
		cc.Connect()
		closeFn := func() { _ = cc.Close(); s.Stop() }
		run := func(ctx context.Context) (int64, error) {
			return parallel(l.Streams, func(int) (int64, error) {
				if down {
					return grpcDownloadClient(ctx, cc, l)
				}
				return grpcUploadClient(ctx, cc, l)
			})
		}
		return run, closeFn, nil
	}
}

func grpcUploadClient(ctx context.Context, cc *grpc.ClientConn, l StreamLoad) (int64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cs, err := cc.NewStream(ctx, &grpcBulkDesc.Streams[0], "/bench.Bulk/Upload")
	if err != nil {
		return 0, err
	}
	m := new(wrapperspb.BytesValue)
	if err := sendChunks(l.Total, l.Chunk, func(b []byte) error { m.Value = b; return cs.SendMsg(m) }); err != nil && err != io.EOF {
		return 0, err
	}
	if err := cs.CloseSend(); err != nil {
		return 0, err
	}
	reply := new(wrapperspb.Int64Value)
	if err := cs.RecvMsg(reply); err != nil {
		return 0, fmt.Errorf("receive the count: %w", err)
	}
	return reply.Value, nil
}

func grpcDownloadClient(ctx context.Context, cc *grpc.ClientConn, l StreamLoad) (int64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cs, err := cc.NewStream(ctx, &grpcBulkDesc.Streams[1], "/bench.Bulk/Download")
	if err != nil {
		return 0, err
	}
	if err := cs.SendMsg(wrapperspb.Bytes(downloadRequest(l))); err != nil {
		return 0, err
	}
	if err := cs.CloseSend(); err != nil {
		return 0, err
	}
	m := new(wrapperspb.BytesValue)
	var n int64
	for {
		if err := cs.RecvMsg(m); err == io.EOF {
			return n, nil
		} else if err != nil {
			return n, err
		}
		n += int64(len(m.Value))
	}
}
