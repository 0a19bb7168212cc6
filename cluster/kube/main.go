// Command kube is one static binary holding the Kubernetes components the test cluster runs,
// dispatched on its first argument (or on the name it is called by, so a symlink named
// kubectl works): etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, and
// the node components kubelet and kube-proxy.
// Every component is the upstream command constructor of the pinned release; nothing here
// changes their behaviour.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	_ "time/tzdata" // CronJob time zones, as upstream's binaries do

	"go.etcd.io/etcd/server/v3/etcdmain"
	"k8s.io/component-base/cli"
	"k8s.io/component-base/logs"
	_ "k8s.io/component-base/logs/json/register"          // JSON log format, as upstream
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go metrics, as upstream
	_ "k8s.io/component-base/metrics/prometheus/version"  // version metric, as upstream
	"k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/util"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	proxy "k8s.io/kubernetes/cmd/kube-proxy/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
	kubelet "k8s.io/kubernetes/cmd/kubelet/app"

	_ "k8s.io/client-go/plugin/pkg/client/auth" // kubectl's client auth plugins
)

var components = map[string]func(args []string) int{
	"etcd": func(args []string) int {
		// etcdmain.Main reads os.Args itself and exits on its own.
		etcdmain.Main(append([]string{"etcd"}, args...))
		return 0
	},
	"kube-apiserver": func(args []string) int {
		c := apiserver.NewAPIServerCommand()
		c.SetArgs(args)
		return cli.Run(c)
	},
	"kube-controller-manager": func(args []string) int {
		c := controllermanager.NewControllerManagerCommand()
		c.SetArgs(args)
		return cli.Run(c)
	},
	"kube-scheduler": func(args []string) int {
		c := scheduler.NewSchedulerCommand()
		c.SetArgs(args)
		return cli.Run(c)
	},
	"kubelet": func(args []string) int {
		c := kubelet.NewKubeletCommand(context.Background())
		c.SetArgs(args)
		return cli.Run(c)
	},
	"kube-proxy": func(args []string) int {
		c := proxy.NewProxyCommand()
		c.SetArgs(args)
		return cli.Run(c)
	},
	"kubectl": func(args []string) int {
		// kubectl inspects os.Args for its verbosity before parsing flags; make it see its own.
		os.Args = append([]string{"kubectl"}, args...)
		logs.GlogSetter(cmd.GetLogVerbosity(os.Args)) //nolint:errcheck // as upstream's main
		c := cmd.NewDefaultKubectlCommand()
		c.SetArgs(args)
		if err := cli.RunNoErrOutput(c); err != nil {
			util.CheckErr(err)
		}
		return 0
	},
}

func names() string {
	n := make([]string, 0, len(components))
	for k := range components {
		n = append(n, k)
	}
	sort.Strings(n)
	return strings.Join(n, ", ")
}

func main() {
	name, args := filepath.Base(os.Args[0]), os.Args[1:]
	if _, ok := components[name]; !ok {
		if len(args) == 0 {
			fmt.Fprintf(os.Stderr, "usage: %s COMPONENT [FLAGS...]\ncomponents: %s\n", name, names())
			os.Exit(2)
		}
		name, args = args[0], args[1:]
	}
	run, ok := components[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "unknown component %q; components: %s\n", name, names())
		os.Exit(2)
	}
	os.Exit(run(args))
}
