// The "event" command: one webhook event through Tekton Triggers' own EventListener sink, against
// a real API server.
//
//	tekton-validate event --kubeconfig FILE [--context NAME] --namespace NS --listener NAME \
//	    --body FILE [--header 'Name: value']...
//
// It runs what a Triggers install runs for an EventListener, with Triggers' own code:
//
//   - the core interceptors (github, gitlab, cel, ...) of pkg/interceptors/server, served on
//     loopback, reading webhook secrets from the cluster as the core-interceptors deployment does;
//     the cluster's ClusterInterceptors are those of a fresh install (path /<name>), pointing there;
//   - the sink (pkg/sink.Sink.HandleEvent) of the EventListener, with the identity of the
//     listener's ServiceAccount (impersonated): it reads the EventListener, its Triggers, bindings
//     and templates with that identity and creates the resources (PipelineRuns) with it.
//
// It prints one JSON object: the sink's HTTP status, the resources the event created on the
// cluster (found by the event id label Triggers puts on them), and the sink's errors and the
// interceptors' refusals from its log. Exit status: 0 when the sink ran (whatever it decided),
// 2 on a usage or connection error.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"

	triggersv1alpha1 "github.com/tektoncd/triggers/pkg/apis/triggers/v1alpha1"
	triggersclientset "github.com/tektoncd/triggers/pkg/client/clientset/versioned"
	listersv1alpha1 "github.com/tektoncd/triggers/pkg/client/listers/triggers/v1alpha1"
	listersv1beta1 "github.com/tektoncd/triggers/pkg/client/listers/triggers/v1beta1"
	"github.com/tektoncd/triggers/pkg/interceptors"
	interceptorserver "github.com/tektoncd/triggers/pkg/interceptors/server"
	"github.com/tektoncd/triggers/pkg/sink"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"knative.dev/pkg/apis"
)

// coreInterceptors are the ClusterInterceptors a Triggers install creates.
var coreInterceptors = []string{"bitbucket", "cel", "github", "gitlab", "slack"}

type headerFlags []string

func (h *headerFlags) String() string     { return strings.Join(*h, ", ") }
func (h *headerFlags) Set(v string) error { *h = append(*h, v); return nil }

type eventResult struct {
	Status    int              `json:"status"`
	EventID   string           `json:"eventID"`
	Created   []map[string]any `json:"created"`
	Errors    []string         `json:"errors"`
	Refusals  []string         `json:"refusals"`
	Identity  string           `json:"identity"`
	Listener  string           `json:"listener"`
	Namespace string           `json:"namespace"`
}

func runEvent(args []string) int {
	fs := flag.NewFlagSet("event", flag.ContinueOnError)
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig of the cluster")
	kubeContext := fs.String("context", "", "kubeconfig context")
	namespace := fs.String("namespace", "", "namespace of the EventListener")
	listener := fs.String("listener", "", "name of the EventListener")
	bodyFile := fs.String("body", "", "file holding the event's body")
	var headers headerFlags
	fs.Var(&headers, "header", "a request header, 'Name: value' (repeatable)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *kubeconfig == "" || *namespace == "" || *listener == "" || *bodyFile == "" {
		fmt.Fprintln(os.Stderr, "event: --kubeconfig, --namespace, --listener and --body are required")
		return 2
	}
	body, err := os.ReadFile(*bodyFile)
	if err != nil {
		fmt.Fprintf(os.Stderr, "event: %v\n", err)
		return 2
	}
	result, err := handleEvent(*kubeconfig, *kubeContext, *namespace, *listener, body, headers)
	if err != nil {
		fmt.Fprintf(os.Stderr, "event: %v\n", err)
		return 2
	}
	out, _ := json.Marshal(result)
	fmt.Println(string(out))
	return 0
}

func handleEvent(kubeconfig, kubeContext, namespace, listener string, body []byte,
	headers []string) (*eventResult, error) {
	ctx := context.Background()
	admin, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: kubeconfig},
		&clientcmd.ConfigOverrides{CurrentContext: kubeContext},
	).ClientConfig()
	if err != nil {
		return nil, err
	}
	adminTriggers, err := triggersclientset.NewForConfig(admin)
	if err != nil {
		return nil, err
	}
	el, err := adminTriggers.TriggersV1beta1().EventListeners(namespace).Get(ctx, listener, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	account := el.Spec.ServiceAccountName
	if account == "" {
		account = "default"
	}
	identity := fmt.Sprintf("system:serviceaccount:%s:%s", namespace, account)
	asListener := rest.CopyConfig(admin)
	asListener.Impersonate = rest.ImpersonationConfig{
		UserName: identity,
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"},
	}

	core, observed := observedLogger()

	// The core interceptors, as the core-interceptors deployment runs them (its own rights: it
	// reads the webhook secrets).
	adminKube, err := kubernetes.NewForConfig(admin)
	if err != nil {
		return nil, err
	}
	server, err := interceptorserver.NewWithCoreInterceptors(
		interceptors.DefaultSecretGetter(adminKube.CoreV1()), core)
	if err != nil {
		return nil, err
	}
	interceptorHTTP := httptest.NewServer(server)
	defer interceptorHTTP.Close()

	// The sink, with the listener's identity.
	kube, err := kubernetes.NewForConfig(asListener)
	if err != nil {
		return nil, err
	}
	triggers, err := triggersclientset.NewForConfig(asListener)
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(asListener)
	if err != nil {
		return nil, err
	}
	listers, err := listListenerObjects(ctx, triggers, namespace, interceptorHTTP.URL)
	if err != nil {
		return nil, fmt.Errorf("as %s: %w", identity, err)
	}
	if _, err := sink.NewRecorder(); err != nil {
		return nil, err
	}
	s := sink.Sink{
		KubeClientSet:               kube,
		TriggersClient:              triggers,
		DiscoveryClient:             kube.Discovery(),
		DynamicClient:               dyn,
		HTTPClient:                  http.DefaultClient,
		EventListenerName:           listener,
		EventListenerNamespace:      namespace,
		Logger:                      core,
		Auth:                        sink.DefaultAuthOverride{},
		WGProcessTriggers:           &sync.WaitGroup{},
		EventListenerLister:         listers.eventListeners,
		TriggerLister:               listers.triggers,
		TriggerBindingLister:        listers.bindings,
		ClusterTriggerBindingLister: listers.clusterBindings,
		TriggerTemplateLister:       listers.templates,
		ClusterInterceptorLister:    listers.clusterInterceptors,
		InterceptorLister:           listers.interceptors,
	}

	request := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	for _, h := range headers {
		name, value, ok := strings.Cut(h, ":")
		if !ok {
			return nil, fmt.Errorf("header %q is not 'Name: value'", h)
		}
		request.Header.Add(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	recorder := httptest.NewRecorder()
	s.HandleEvent(recorder, request)
	s.WGProcessTriggers.Wait()

	var response sink.Response
	_ = json.Unmarshal(recorder.Body.Bytes(), &response)
	result := &eventResult{
		Status: recorder.Code, EventID: response.EventID, Identity: identity,
		Listener: listener, Namespace: namespace, Created: []map[string]any{},
		Errors: []string{}, Refusals: []string{},
	}
	for _, entry := range observed.All() {
		switch {
		case entry.Level >= zapcore.ErrorLevel:
			result.Errors = append(result.Errors, entry.Message)
		case strings.HasPrefix(entry.Message, "interceptor stopped trigger processing"):
			result.Refusals = append(result.Refusals, entry.Message)
		}
	}
	if response.EventID != "" {
		created, err := createdBy(ctx, admin, namespace, response.EventID)
		if err != nil {
			return nil, err
		}
		result.Created = created
	}
	return result, nil
}

func observedLogger() (*zap.SugaredLogger, *observer.ObservedLogs) {
	core, logs := observer.New(zapcore.DebugLevel)
	return zap.New(core).Sugar(), logs
}

type listenerListers struct {
	eventListeners      listersv1beta1.EventListenerLister
	triggers            listersv1beta1.TriggerLister
	bindings            listersv1beta1.TriggerBindingLister
	clusterBindings     listersv1beta1.ClusterTriggerBindingLister
	templates           listersv1beta1.TriggerTemplateLister
	clusterInterceptors listersv1alpha1.ClusterInterceptorLister
	interceptors        listersv1alpha1.InterceptorLister
}

// listListenerObjects fills the sink's listers as its informers would: the listener's namespace
// objects listed from the cluster with the listener's identity; the cluster's ClusterInterceptors
// are the core ones of a Triggers install, served at interceptorURL (the sandbox serves no
// cluster-scoped Triggers kinds, so there are no ClusterTriggerBindings).
func listListenerObjects(ctx context.Context, client triggersclientset.Interface, namespace,
	interceptorURL string) (*listenerListers, error) {
	index := func(objects ...runtime.Object) (cache.Indexer, error) {
		indexer := cache.NewIndexer(cache.MetaNamespaceKeyFunc,
			cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
		for _, obj := range objects {
			if err := indexer.Add(obj); err != nil {
				return nil, err
			}
		}
		return indexer, nil
	}
	v1beta1 := client.TriggersV1beta1()
	options := metav1.ListOptions{}
	els, err := v1beta1.EventListeners(namespace).List(ctx, options)
	if err != nil {
		return nil, err
	}
	trs, err := v1beta1.Triggers(namespace).List(ctx, options)
	if err != nil {
		return nil, err
	}
	tbs, err := v1beta1.TriggerBindings(namespace).List(ctx, options)
	if err != nil {
		return nil, err
	}
	tts, err := v1beta1.TriggerTemplates(namespace).List(ctx, options)
	if err != nil {
		return nil, err
	}
	var objects [][]runtime.Object
	for _, list := range []func() []runtime.Object{
		func() (o []runtime.Object) {
			for i := range els.Items {
				o = append(o, &els.Items[i])
			}
			return
		},
		func() (o []runtime.Object) {
			for i := range trs.Items {
				o = append(o, &trs.Items[i])
			}
			return
		},
		func() (o []runtime.Object) {
			for i := range tbs.Items {
				o = append(o, &tbs.Items[i])
			}
			return
		},
		func() (o []runtime.Object) {
			for i := range tts.Items {
				o = append(o, &tts.Items[i])
			}
			return
		},
		func() (o []runtime.Object) {
			for _, name := range coreInterceptors {
				url, _ := apis.ParseURL(interceptorURL + "/" + name)
				o = append(o, &triggersv1alpha1.ClusterInterceptor{
					ObjectMeta: metav1.ObjectMeta{Name: name},
					Spec: triggersv1alpha1.ClusterInterceptorSpec{
						ClientConfig: triggersv1alpha1.ClientConfig{URL: url},
					},
				})
			}
			return
		},
	} {
		objects = append(objects, list())
	}
	indexers := make([]cache.Indexer, 0, len(objects)+2)
	for _, set := range objects {
		indexer, err := index(set...)
		if err != nil {
			return nil, err
		}
		indexers = append(indexers, indexer)
	}
	empty, _ := index()
	emptyNamespaced, _ := index()
	return &listenerListers{
		eventListeners:      listersv1beta1.NewEventListenerLister(indexers[0]),
		triggers:            listersv1beta1.NewTriggerLister(indexers[1]),
		bindings:            listersv1beta1.NewTriggerBindingLister(indexers[2]),
		templates:           listersv1beta1.NewTriggerTemplateLister(indexers[3]),
		clusterInterceptors: listersv1alpha1.NewClusterInterceptorLister(indexers[4]),
		clusterBindings:     listersv1beta1.NewClusterTriggerBindingLister(empty),
		interceptors:        listersv1alpha1.NewInterceptorLister(emptyNamespaced),
	}, nil
}

// createdBy lists the PipelineRuns and TaskRuns labelled with the event's id, as Triggers labels
// what it creates.
func createdBy(ctx context.Context, config *rest.Config, namespace, eventID string) ([]map[string]any, error) {
	dyn, err := dynamic.NewForConfig(config)
	if err != nil {
		return nil, err
	}
	selector := "triggers.tekton.dev/triggers-eventid=" + eventID
	var out []map[string]any
	for _, resource := range []string{"pipelineruns", "taskruns"} {
		gvr := schema.GroupVersionResource{Group: "tekton.dev", Version: "v1", Resource: resource}
		list, err := dyn.Resource(gvr).Namespace(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			if resource == "taskruns" {
				continue // not served in every sandbox flavour
			}
			return nil, err
		}
		for _, item := range list.Items {
			out = append(out, item.Object)
		}
	}
	if out == nil {
		out = []map[string]any{}
	}
	return out, nil
}
