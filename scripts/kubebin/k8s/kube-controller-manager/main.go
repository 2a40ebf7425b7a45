// kube-controller-manager built from k8s.io/kubernetes at the version pinned in ../go.mod; the same
// main as upstream's cmd/kube-controller-manager. Used by scripts/kube-local.sh.
package main

import (
	"os"
	_ "time/tzdata" // for time zone support in CronJob

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // JSON log format
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go metrics
	_ "k8s.io/component-base/metrics/prometheus/version"  // version metric
	"k8s.io/kubernetes/cmd/kube-controller-manager/app"
)

func main() {
	os.Exit(cli.Run(app.NewControllerManagerCommand()))
}
