"""Whether a server pod holds data: a database, an object store, a broker, a vector store.

Data stores are not always StatefulSets: Kubeflow Pipelines installs MySQL and its artifact store
(MinIO up to 2.14, SeaweedFS since) as Deployments with a PersistentVolumeClaim
(kubeflow/pipelines `manifests/kustomize/third-party/{mysql,minio,seaweedfs}/base/`). So a pod
is a data store when it is a server (`restartPolicy: Always`; Job, workflow and operator pods run
to completion) and one of:
- a volume is a PersistentVolumeClaim: its state outlives the pod;
- a container runs a well-known data-store image, matched on the repository's last path
  segment exactly (`bitnami/postgresql`, `mysql`, `quay.io/minio/minio`): an exporter
  (`postgres-exporter`), a client or an init container that waits for the database does not;
- its `app.kubernetes.io/name` or `app` label is such a name (Bitnami charts, Kubeflow).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from webhook.kube.pod import Pod, main_images, mounts_claim, restarts_always

DATA_STORE_NAMES = frozenset(
    {
        # relational
        "postgres", "postgresql", "postgresql-repmgr", "pgvector", "timescaledb",
        "mysql", "mysql-server", "mariadb", "percona-server",
        # key-value, document, wide-column, search
        "redis", "redis-cluster", "redis-stack-server", "valkey", "keydb",
        "mongo", "mongodb", "percona-server-mongodb", "etcd", "cassandra", "scylla",
        "couchdb", "neo4j", "influxdb", "clickhouse", "clickhouse-server",
        "elasticsearch", "opensearch",
        # object stores
        "minio", "seaweedfs",
        # brokers and their coordination
        "kafka", "cp-kafka", "cp-server", "zookeeper", "cp-zookeeper", "rabbitmq",
        # vector stores
        "qdrant", "milvus", "weaviate", "chroma",
    }
)  # fmt: skip


def is_data_store(labels: Mapping[str, Any], pod: Pod) -> bool:
    if not restarts_always(pod):
        return False
    if labels and (_named(labels.get("app.kubernetes.io/name")) or _named(labels.get("app"))):
        return True
    return mounts_claim(pod) or any(image in DATA_STORE_NAMES for image in main_images(pod))


def _named(value: Any) -> bool:
    # A label value is a string in a valid pod, anything in a hostile one (never hashed then).
    return type(value) is str and value in DATA_STORE_NAMES
