# Sourced by the cluster benches whose options are the same: sets `nodes`,
# `shards`, `clients`, `duration`, `build`, `replication_factor` and
# `replication_mode` from the arguments, over the defaults the caller set.
replication_factor=1
replication_mode=async
cluster_options() {
    while [ $# -gt 0 ]; do
        case "$1" in
            --replication-factor) replication_factor="$2"; shift 2 ;;
            --replication-mode) replication_mode="$2"; shift 2 ;;
            --nodes) nodes="$2"; shift 2 ;;
            --shards) shards="$2"; shift 2 ;;
            -c) clients="$2"; shift 2 ;;
            -T) duration="$2"; shift 2 ;;
            --no-build) build=0; shift ;;
            *) echo "unknown argument $1" >&2; exit 2 ;;
        esac
    done
}
