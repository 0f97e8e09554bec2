# Sourced by the cluster benches whose options are the same: sets `nodes`,
# `shards`, `clients`, `duration` and `build` from the arguments, over the
# defaults the caller set.
cluster_options() {
    while [ $# -gt 0 ]; do
        case "$1" in
            --nodes) nodes="$2"; shift 2 ;;
            --shards) shards="$2"; shift 2 ;;
            -c) clients="$2"; shift 2 ;;
            -T) duration="$2"; shift 2 ;;
            --no-build) build=0; shift ;;
            *) echo "unknown argument $1" >&2; exit 2 ;;
        esac
    done
}
