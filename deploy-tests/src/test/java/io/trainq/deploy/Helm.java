package io.trainq.deploy;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** Renders the chart with the real helm binary, for the Kubernetes version the tests run. */
final class Helm {

  static final String RELEASE = "trainq";

  private Helm() {}

  static Tools.Result templateRaw(String namespace, Map<String, String> set, String... extraArgs) {
    List<String> cmd = new ArrayList<>(List.of(Tools.helm().toString(), "template", RELEASE, Tools.chart().toString(),
        "--namespace", namespace, "--kube-version", Tools.KUBE_VERSION));
    set.forEach((k, v) -> {
      cmd.add("--set");
      cmd.add(k + "=" + v);
    });
    cmd.addAll(List.of(extraArgs));
    return Tools.run(cmd);
  }

  static Manifests template(String namespace, Map<String, String> set, String... extraArgs) {
    return Manifests.parse(templateRaw(namespace, set, extraArgs).assertOk("helm template").stdout());
  }
}
