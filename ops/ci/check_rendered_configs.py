#!/usr/bin/env python3
"""Runs the duplex binary's own configuration check on what a chart renders.

Usage: check_rendered_configs.py DUPLEX_BINARY RENDERED_YAML

For every pod the rendered Deployments and StatefulSets would start (a
StatefulSet's two ordinals each), this lays out the pod's mounts in a
temporary directory as Kubernetes would: ConfigMap files as rendered, Secret
and projected items as real files (certificates and keys issued by
`duplex tls init` for the names the pod's configuration expects, a token, a
password), the environment from the rendered Secrets and the downward API,
and $(VAR) expanded in the arguments. Every path in the configuration under
a mount is moved into that directory, and the container's own command runs
with --check appended: the daemon then reads the configuration exactly as in
the cluster (an unknown key, a value out of range, a missing file fail).

Exits 0 when every pod's configuration is usable, 1 otherwise, printing one
line per pod.
"""

import base64
import os
import re
import subprocess
import sys
import tempfile

import yaml

PLACEHOLDER_DATABASE_URL = "postgres://duplex@postgresql.example:5432/duplex"


def load(path):
    with open(path) as stream:
        return [doc for doc in yaml.safe_load_all(stream) if doc]


def secret_values(secret):
    values = dict(secret.get("stringData") or {})
    for key, encoded in (secret.get("data") or {}).items():
        values[key] = base64.b64decode(encoded).decode()
    return values


def issue_certificates(binary, directory, hosts):
    """A CA and one certificate per host name, as `duplex tls init` writes them."""
    subprocess.run(
        [binary, "tls", "init", "--out", directory, "--hosts", ",".join(sorted(hosts))],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def rewrite_paths(value, mounts, root):
    """Moves every path under a mount into the sandbox `root`."""
    if isinstance(value, dict):
        return {key: rewrite_paths(item, mounts, root) for key, item in value.items()}
    if isinstance(value, list):
        return [rewrite_paths(item, mounts, root) for item in value]
    if isinstance(value, str):
        for mount in mounts:
            if value == mount or value.startswith(mount.rstrip("/") + "/"):
                return root + value
    return value


class Pod:
    """One pod of a workload, laid out under a temporary root."""

    def __init__(self, binary, objects, workload, name, hostname, certificates):
        self.binary = binary
        self.objects = objects
        self.workload = workload
        self.name = name
        self.hostname = hostname
        self.certificates = certificates
        self.spec = workload["spec"]["template"]["spec"]

    def find(self, kind, name):
        for obj in self.objects:
            if obj["kind"] == kind and obj["metadata"]["name"] == name:
                return obj
        return None

    def secret_item(self, secret_name, key):
        """A Secret's value: the rendered one, else material made for the key."""
        secret = self.find("Secret", secret_name)
        if secret is not None and key in secret_values(secret):
            return secret_values(secret)[key]
        cert_dir = self.certificates
        # host-N.* (a pair's Secret made by hand) or tls.* of "<pod>-tls"
        # (cert-manager): the certificate of that host; tls.* otherwise: the
        # certificate of the Service the workload is reached by.
        match = re.fullmatch(r"host-(\d)\.(crt|key)", key)
        if match:
            host = self.host_of_ordinal(int(match.group(1)))
            return read(os.path.join(cert_dir, host + (".pem" if match.group(2) == "crt" else ".key")))
        if key in ("tls.crt", "tls.key"):
            match = re.fullmatch(r"(.*)-(\d)-tls", secret_name)
            host = self.host_of_ordinal(int(match.group(2))) if match else self.service_host()
            return read(os.path.join(cert_dir, host + (".pem" if key == "tls.crt" else ".key")))
        if key == "ca.crt":
            return read(os.path.join(cert_dir, "ca.pem"))
        if key == "token":
            return "dxt_" + "0" * 40 + "\n"
        return "secret\n"

    def host_of_ordinal(self, ordinal):
        return host_name(self.workload, ordinal)

    def service_host(self):
        return self.hostname

    def lay_out(self, root):
        """Writes every volume's files where the container mounts them; returns the mount paths."""
        container = self.spec["containers"][0]
        volumes = {volume["name"]: volume for volume in self.spec.get("volumes", [])}
        mounts = []
        for mount in container.get("volumeMounts", []):
            path = mount["mountPath"]
            mounts.append(path)
            target = root + path
            os.makedirs(target, exist_ok=True)
            volume = volumes.get(mount["name"])
            if volume is None:
                continue  # a volumeClaimTemplate: an empty directory
            for relative, content in self.volume_files(volume):
                file_path = os.path.join(target, relative)
                os.makedirs(os.path.dirname(file_path), exist_ok=True)
                with open(file_path, "w") as out:
                    out.write(content)
                os.chmod(file_path, 0o600)
        return mounts

    def volume_files(self, volume):
        if "configMap" in volume:
            config_map = self.find("ConfigMap", volume["configMap"]["name"])
            if config_map is None:
                raise CheckError(f"volume {volume['name']}: ConfigMap {volume['configMap']['name']} is not rendered")
            return list((config_map.get("data") or {}).items())
        if "secret" in volume:
            return self.secret_files(volume["secret"]["secretName"], volume["secret"].get("items"))
        if "projected" in volume:
            files = []
            for source in volume["projected"]["sources"]:
                if "secret" in source:
                    files += self.secret_files(source["secret"]["name"], source["secret"].get("items"))
            return files
        return []  # emptyDir

    def secret_files(self, name, items):
        if not items:
            secret = self.find("Secret", name)
            return list(secret_values(secret).items()) if secret else []
        return [(item["path"], self.secret_item(name, item["key"])) for item in items]

    def environment(self):
        container = self.spec["containers"][0]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        for variable in container.get("env", []):
            source = variable.get("valueFrom", {})
            if "value" in variable:
                env[variable["name"]] = variable["value"]
            elif "fieldRef" in source and source["fieldRef"]["fieldPath"] == "metadata.name":
                env[variable["name"]] = self.name
            elif "secretKeyRef" in source:
                ref = source["secretKeyRef"]
                secret = self.find("Secret", ref["name"])
                values = secret_values(secret) if secret else {}
                env[variable["name"]] = values.get(ref["key"], PLACEHOLDER_DATABASE_URL)
            else:
                raise CheckError(f"env {variable['name']}: a source this check does not know")
        return env

    def check(self):
        container = self.spec["containers"][0]
        env = self.environment()
        with tempfile.TemporaryDirectory(prefix="duplex-chart-") as root:
            mounts = self.lay_out(root)
            args = [re.sub(r"\$\((\w+)\)", lambda m: env.get(m.group(1), m.group(0)), arg) for arg in container["args"]]
            config_index = args.index("--config") + 1
            config_path = root + args[config_index]
            with open(config_path) as stream:
                config = yaml.safe_load(stream)
            with open(config_path, "w") as out:
                yaml.safe_dump(rewrite_paths(config, mounts, root), out)
            args[config_index] = config_path
            result = subprocess.run(
                [self.binary] + args + ["--check"], env=env, capture_output=True, text=True
            )
            output = (result.stdout + result.stderr).strip().replace(root, "")
            return result.returncode == 0, output


class CheckError(Exception):
    pass


def read(path):
    with open(path) as stream:
        return stream.read()


def host_name(workload, ordinal=None):
    """A StatefulSet pod's stable DNS name, or a Deployment's Service name (the
    chart names the Service after the Deployment); the cluster domain is the
    chart's default."""
    name = workload["metadata"]["name"]
    namespace = workload["metadata"].get("namespace", "default")
    if ordinal is None:
        return f"{name}.{namespace}.svc.cluster.local"
    return f"{name}-{ordinal}.{workload['spec']['serviceName']}.{namespace}.svc.cluster.local"


def pods(objects):
    """(workload, pod name, host name) for every pod the workloads start."""
    for obj in objects:
        if obj["kind"] == "StatefulSet":
            for ordinal in range(obj["spec"]["replicas"]):
                yield obj, f"{obj['metadata']['name']}-{ordinal}", host_name(obj, ordinal)
        elif obj["kind"] == "Deployment":
            yield obj, f"{obj['metadata']['name']}-0", host_name(obj)


def main():
    binary, rendered = sys.argv[1], sys.argv[2]
    objects = load(rendered)
    found = list(pods(objects))
    if not found:
        print("no Deployment or StatefulSet rendered", file=sys.stderr)
        return 1
    failed = 0
    # The directory must not exist yet: `duplex tls init` makes it, mode 0700.
    with tempfile.TemporaryDirectory(prefix="duplex-chart-certs-") as certificates:
        issue_certificates(binary, os.path.join(certificates, "tls"), {host for _, _, host in found})
        for workload, name, host in found:
            pod = Pod(binary, objects, workload, name, host, os.path.join(certificates, "tls"))
            try:
                ok, output = pod.check()
            except (CheckError, KeyError, ValueError, OSError) as error:
                ok, output = False, f"cannot lay out the pod: {error!r}"
            print(f"    {'ok' if ok else 'FAILED'} {workload['kind']} pod {name}: {output}")
            failed += 0 if ok else 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
