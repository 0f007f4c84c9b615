package main

import (
	"bytes"
	"errors"
	"io"
	"net/netip"
	"os"
	"path"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/privlink/privlink/config"
)

// The files of deploy/ and the Dockerfile, as seen from this package.
const (
	podTopology    = "../../deploy/topology.yaml"
	composePath    = "../../deploy/compose.yaml"
	podPath        = "../../deploy/kubernetes/privlink-test-pod.yaml"
	dockerfilePath = "../../Dockerfile"
	imageBinary    = "/usr/local/bin/privlink"
)

// composeFile is the part of deploy/compose.yaml the tests read.
type composeFile struct {
	Services map[string]struct {
		Command     []string `yaml:"command"`
		NetworkMode string   `yaml:"network_mode"`
		Volumes     []string `yaml:"volumes"`
		Healthcheck struct {
			Disable bool `yaml:"disable"`
		} `yaml:"healthcheck"`
	} `yaml:"services"`
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	b, err := os.ReadFile(composePath)
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatalf("%s: %v", composePath, err)
	}
	return c
}

// k8sObject is the part of a Kubernetes object the tests read.
type k8sObject struct {
	Kind string            `yaml:"kind"`
	Data map[string]string `yaml:"data"`
	Spec struct {
		InitContainers []k8sContainer `yaml:"initContainers"`
		Containers     []k8sContainer `yaml:"containers"`
	} `yaml:"spec"`
}

type k8sContainer struct {
	Name          string   `yaml:"name"`
	RestartPolicy string   `yaml:"restartPolicy"`
	Args          []string `yaml:"args"`
	VolumeMounts  []struct {
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
	// Rest holds the other keys, the probes among them.
	Rest map[string]yaml.Node `yaml:",inline"`
}

// probe returns the exec command of the container's probe key (e.g.
// readinessProbe), or nil.
func (c k8sContainer) probe(key string) []string {
	var p struct {
		Exec struct {
			Command []string `yaml:"command"`
		} `yaml:"exec"`
	}
	if n, ok := c.Rest[key]; !ok || n.Decode(&p) != nil {
		return nil
	}
	return p.Exec.Command
}

func loadPod(t *testing.T) map[string]k8sObject {
	t.Helper()
	b, err := os.ReadFile(podPath)
	if err != nil {
		t.Fatal(err)
	}
	objs := map[string]k8sObject{}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var o k8sObject
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			return objs
		}
		if err != nil {
			t.Fatalf("%s: %v", podPath, err)
		}
		objs[o.Kind] = o
	}
}

// flagValue returns the value after flag in args.
func flagValue(args []string, flag string) string {
	if i := slices.Index(args, flag); i >= 0 && i+1 < len(args) {
		return args[i+1]
	}
	return ""
}

// The compose project, the Kubernetes pod and the image agree with each
// other and with deploy/topology.yaml: the same commands in every
// container, the target listening on a target address of the topology, the
// application dialing an endpoint interface, probes that are `privlink
// health` at the image's path, and a ConfigMap holding the topology verbatim.
func TestDeployManifests(t *testing.T) {
	topo, err := os.ReadFile(podTopology)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(podTopology)
	if err != nil || len(cfg.Warnings) > 0 {
		t.Fatalf("%s: %v %v", podTopology, err, cfg)
	}
	compose, pod := loadCompose(t), loadPod(t)
	if got := pod["ConfigMap"].Data["topology.yaml"]; got != string(topo) {
		t.Errorf("%s: the ConfigMap's topology.yaml differs from %s", podPath, podTopology)
	}
	containers := map[string]k8sContainer{}
	for _, c := range append(pod["Pod"].Spec.InitContainers, pod["Pod"].Spec.Containers...) {
		containers[c.Name] = c
	}
	for name, svc := range compose.Services {
		if c, ok := containers[name]; !ok || !slices.Equal(c.Args, svc.Command) {
			t.Errorf("container %s: pod args %q, compose command %q", name, c.Args, svc.Command)
		}
		if name != "privlink" && (svc.NetworkMode != "service:privlink" || !svc.Healthcheck.Disable) {
			t.Errorf("compose %s: network_mode %q, healthcheck disabled %v; want service:privlink, true", name, svc.NetworkMode, svc.Healthcheck.Disable)
		}
	}
	if len(containers) != len(compose.Services) {
		t.Errorf("pod has %d containers, compose %d services", len(containers), len(compose.Services))
	}
	checkDeployAddrs(t, cfg, compose)
	checkDeployTopologyPath(t, compose, containers["privlink"])
	checkDeployProbes(t, containers)
}

// checkDeployAddrs: the target listens on a target of the topology that
// privlink does not serve itself, the application dials an interface.
func checkDeployAddrs(t *testing.T, cfg *config.Config, compose composeFile) {
	t.Helper()
	targets, ifaces := map[netip.AddrPort]bool{}, map[netip.AddrPort]bool{}
	for _, s := range cfg.Services {
		for _, tg := range s.TargetGroups {
			for _, tt := range tg.Targets {
				targets[tt.AddrPort()] = tt.Builtin == config.BuiltinNone
			}
		}
		for _, ep := range cfg.Endpoints {
			for _, in := range ep.Interfaces {
				for _, l := range s.LoadBalancer.Listeners {
					ifaces[netip.AddrPortFrom(in.IP, l.Port)] = ep.Service == s.ID
				}
			}
		}
	}
	listen := flagValue(compose.Services["target"].Command, "--listen")
	if ap, err := netip.ParseAddrPort(listen); err != nil || !targets[ap] {
		t.Errorf("compose target listens on %q: not an external target of %s (%v)", listen, podTopology, targets)
	}
	dial := flagValue(compose.Services["app"].Command, "--target")
	if ap, err := netip.ParseAddrPort(dial); err != nil || !ifaces[ap] {
		t.Errorf("compose app dials %q: not an endpoint interface of %s (%v)", dial, podTopology, ifaces)
	}
}

// checkDeployTopologyPath: privlink run -c reads the file compose mounts
// from deploy/topology.yaml and the pod mounts from the ConfigMap.
func checkDeployTopologyPath(t *testing.T, compose composeFile, c k8sContainer) {
	t.Helper()
	file := flagValue(compose.Services["privlink"].Command, "-c")
	if !slices.Contains(compose.Services["privlink"].Volumes, "./topology.yaml:"+file+":ro") {
		t.Errorf("compose privlink reads %q but mounts %q", file, compose.Services["privlink"].Volumes)
	}
	if len(c.VolumeMounts) != 1 || c.VolumeMounts[0].MountPath != path.Dir(file) {
		t.Errorf("pod privlink reads %q but mounts %+v", file, c.VolumeMounts)
	}
}

// checkDeployProbes: the probes run privlink health from the image; the
// sidecars are native sidecars.
func checkDeployProbes(t *testing.T, containers map[string]k8sContainer) {
	t.Helper()
	df, err := os.ReadFile(dockerfilePath)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"COPY --from=build /out/privlink " + imageBinary, `ENTRYPOINT ["` + imageBinary + `"]`, `CMD ["` + imageBinary + `", "health"]`} {
		if !strings.Contains(string(df), want) {
			t.Errorf("%s lacks %s", dockerfilePath, want)
		}
	}
	pl := containers["privlink"]
	for key, want := range map[string][]string{
		"startupProbe":   {imageBinary, "health"},
		"readinessProbe": {imageBinary, "health"},
		"livenessProbe":  {imageBinary, "health", "--live"},
	} {
		if got := pl.probe(key); !slices.Equal(got, want) {
			t.Errorf("pod privlink %s: exec %q, want %q", key, got, want)
		}
	}
	tgt := containers["target"]
	if got := tgt.probe("startupProbe"); len(got) < 4 || got[0] != imageBinary || flagValue(got, "--admin") != flagValue(tgt.Args, "--admin") {
		t.Errorf("pod target startupProbe %q does not ask the target's admin %q", got, flagValue(tgt.Args, "--admin"))
	}
	for _, name := range []string{"privlink", "target"} {
		if containers[name].RestartPolicy != "Always" {
			t.Errorf("pod %s: restartPolicy %q; want a native sidecar (Always)", name, containers[name].RestartPolicy)
		}
	}
}
