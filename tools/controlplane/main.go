// Command weir-controlplane is a multi-call binary holding etcd, kube-apiserver,
// kube-controller-manager and a kubectl of the same minor, so the huge
// dependency tree is compiled and linked once.
//
// Usage: weir-controlplane etcd|kube-apiserver|kube-controller-manager|kubectl [flags]
// (or a symlink named after the subcommand).
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/spf13/cobra"
	"go.etcd.io/etcd/server/v3/etcdmain"
	"k8s.io/component-base/cli"
	kubectl "k8s.io/kubectl/pkg/cmd"
	kubectlutil "k8s.io/kubectl/pkg/cmd/util"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
)

// commands maps a subcommand to its entry point; each gets argv with the
// subcommand name as argv[0], the way the standalone binaries would.
var commands = map[string]func(args []string) int{
	"etcd": func(args []string) int {
		etcdmain.Main(args)
		return 0
	},
	"kube-apiserver": func(args []string) int {
		return runCobra(apiserver.NewAPIServerCommand(), args)
	},
	"kube-controller-manager": func(args []string) int {
		return runCobra(controllermanager.NewControllerManagerCommand(), args)
	},
	"kubectl": func(args []string) int {
		// kubectl reads os.Args itself (plugins), so it must see "kubectl" as argv[0].
		os.Args = args
		if err := cli.RunNoErrOutput(kubectl.NewDefaultKubectlCommand()); err != nil {
			kubectlutil.CheckErr(err)
		}
		return 0
	},
}

func runCobra(cmd *cobra.Command, args []string) int {
	cmd.SetArgs(args[1:])
	return cli.Run(cmd)
}

func main() {
	args := os.Args
	// Called through a symlink named after a subcommand, busybox-style.
	if _, ok := commands[filepath.Base(args[0])]; !ok {
		args = args[1:]
	}
	if len(args) == 0 {
		usage()
	}
	run, ok := commands[filepath.Base(args[0])]
	if !ok {
		usage()
	}
	os.Exit(run(args))
}

func usage() {
	names := make([]string, 0, len(commands))
	for name := range commands {
		names = append(names, name)
	}
	sort.Strings(names)
	fmt.Fprintf(os.Stderr, "usage: weir-controlplane %v [flags]\n", names)
	os.Exit(2)
}
