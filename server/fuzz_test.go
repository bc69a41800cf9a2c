package server_test

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/brisk-rpc/brisk/internal/testsvc"
	"github.com/brisk-rpc/brisk/protocol"
	"github.com/brisk-rpc/brisk/server"
)

// pipeListener hands out the server ends of in-memory pipes.
type pipeListener struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case nc := <-l.conns:
		return nc, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

// dial returns the client end of a new pipe whose server end the server accepts.
func (l *pipeListener) dial() (net.Conn, error) {
	cli, srv := net.Pipe()
	select {
	case l.conns <- srv:
		return cli, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

// FuzzServerConn feeds arbitrary bytes to a server connection. Whatever they are, the server
// must not panic, must answer with well-formed frames only, and must let go of the
// connection and shut down within a bound once the peer has gone.
func FuzzServerConn(f *testing.F) {
	f.Add(testsvc.GoldenRequest)
	f.Add(append(append([]byte(nil), testsvc.GoldenRequest...), testsvc.GoldenRequest...))
	hb := append([]byte(nil), testsvc.GoldenRequest...)
	hb[2] = 0x40
	f.Add(hb)
	oneway := append([]byte(nil), testsvc.GoldenRequest...)
	oneway[2] = 0x20
	f.Add(oneway)
	gz := protocol.NewMessage()
	gz.ServicePath, gz.ServiceMethod = "Arith", "Mul"
	gz.SetSerializeType(protocol.JSON)
	gz.SetCompressType(protocol.Gzip)
	gz.Payload = protocol.Compress(nil, []byte(`{"A":3,"B":4}`))
	f.Add(gz.Encode())
	sleep := protocol.NewMessage()
	sleep.ServicePath, sleep.ServiceMethod = "Arith", "Sleep"
	sleep.SetSerializeType(protocol.JSON)
	sleep.Payload = []byte(`{"Millis":100000}`) // must be cut short by the connection closing
	f.Add(sleep.Encode())
	panicky := append([]byte(nil), testsvc.GoldenRequest...)
	copy(panicky[16+4+5+4:], "Pan")
	f.Add(panicky)
	overrun := append([]byte(nil), testsvc.GoldenRequest...)
	binary.BigEndian.PutUint32(overrun[16:], 1000)
	f.Add(overrun)
	f.Add(testsvc.GoldenRequest[:20])
	f.Add([]byte{0x08, 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 1, 0xFF, 0xFF, 0xFF, 0xFF})
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"))
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, data []byte) {
		s := server.NewServer(server.WithMaxMessageSize(1 << 20))
		if err := s.RegisterName("Arith", testsvc.NewArith(), ""); err != nil {
			t.Fatal(err)
		}
		ln := newPipeListener()
		served := make(chan error, 1)
		go func() { served <- s.ServeListener(ln) }()
		nc, err := ln.dial()
		if err != nil {
			t.Fatal(err)
		}
		_ = nc.SetDeadline(time.Now().Add(testsvc.Bound))

		// Read everything the server sends; every frame must parse.
		readErr := make(chan error, 1)
		go func() {
			for {
				frame, err := testsvc.ReadFrame(nc)
				if err != nil {
					if errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe) {
						err = nil
					}
					readErr <- err
					return
				}
				m := protocol.NewMessage()
				if err := m.DecodeBytes(frame, 0); err != nil {
					readErr <- err
					return
				}
			}
		}()
		_, err = nc.Write(data)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("the server stopped reading: %v", err)
		}
		_ = nc.Close()

		closed := make(chan error, 1)
		go func() { closed <- s.Close() }()
		timer := time.NewTimer(testsvc.Bound)
		defer timer.Stop()
		select {
		case <-closed:
		case <-timer.C:
			t.Fatal("server Close hangs")
		}
		select {
		case err := <-served:
			if !errors.Is(err, server.ErrServerClosed) {
				t.Fatalf("ServeListener returned %v", err)
			}
		case <-timer.C:
			t.Fatal("ServeListener hangs after Close")
		}
		select {
		case err := <-readErr:
			if err != nil {
				t.Fatalf("reading the server's answers: %v", err)
			}
		case <-timer.C:
			t.Fatal("reader hangs")
		}
	})
}
