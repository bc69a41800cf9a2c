module github.com/brisk-rpc/brisk/cmd/brisk

go 1.26.8

require github.com/spf13/cobra v1.10.2

require (
	github.com/inconshreveable/mousetrap v1.1.0 // indirect
	github.com/spf13/pflag v1.0.9 // indirect
)

replace (
	github.com/brisk-rpc/brisk => ../..
	github.com/brisk-rpc/brisk/examples => ../../examples
	github.com/brisk-rpc/brisk/registry/consul => ../../registry/consul
	github.com/brisk-rpc/brisk/registry/etcd => ../../registry/etcd
	github.com/brisk-rpc/brisk/registry/mdns => ../../registry/mdns
	github.com/brisk-rpc/brisk/registry/redis => ../../registry/redis
	github.com/brisk-rpc/brisk/registry/zookeeper => ../../registry/zookeeper
	github.com/brisk-rpc/brisk/transport/kcp => ../../transport/kcp
	github.com/brisk-rpc/brisk/transport/quic => ../../transport/quic
)
