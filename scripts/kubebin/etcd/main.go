// etcd server, the same entry point as upstream's etcdmain; its own module so its dependencies do
// not have to agree with Kubernetes'.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
