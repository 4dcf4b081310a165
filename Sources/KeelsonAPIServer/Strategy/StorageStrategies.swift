import KeelsonAPI

/// PersistentVolumes and StorageClasses: stored, defaulted, validated and printed as Kubernetes does. Binding
/// claims to volumes is a controller's job; the scheduler reads both when it places pods with claims.
enum StorageStrategies {
    /// `RWO,ROX`: access modes as kubectl prints them.
    static func accessModes(_ object: JSONValue) -> String {
        (object.value(at: ["spec", "accessModes"])?.arrayValue ?? []).compactMap(\.stringValue).map { mode in
            switch mode {
            case "ReadWriteOnce": "RWO"
            case "ReadOnlyMany": "ROX"
            case "ReadWriteMany": "RWX"
            case "ReadWriteOncePod": "RWOP"
            default: mode
            }
        }.joined(separator: ",")
    }

    static let persistentVolume = ResourceStrategy(
        applyDefaults: { pv in
            pv.setDefault("Retain", at: ["spec", "persistentVolumeReclaimPolicy"])
            pv.setDefault("Filesystem", at: ["spec", "volumeMode"])
        },
        prepareForCreate: { $0["status"] = ["phase": "Pending"] },
        validate: { pv in
            var errors = Validation.required(pv, ["spec", "accessModes"], "spec.accessModes")
            errors += Validation.required(pv, ["spec", "capacity", "storage"], "spec.capacity")
            let sources = (pv["spec"]?.objectValue ?? [:]).keys.filter { volumeSources.contains($0) }
            if sources.isEmpty { errors.append(.required("spec", "must specify a volume type")) }
            if sources.count > 1 { errors.append(.forbidden("spec", "may not specify more than 1 volume type")) }
            return errors
        },
        validateUpdate: { new, old in Validation.immutable(new, old, ["spec", "volumeMode"], "spec.volumeMode") },
        columns: [
            TableColumn(name: "Capacity", description: "capacity is the description of the persistent volume's resources and capacity."),
            TableColumn(name: "Access Modes", description: "accessModes contains all ways the volume can be mounted."),
            TableColumn(name: "Reclaim Policy", description: "persistentVolumeReclaimPolicy defines what happens to a persistent volume when released from its claim."),
            TableColumn(name: "Status", description: "phase indicates if a volume is available, bound to a claim, or released by a claim."),
            TableColumn(name: "Claim", description: "claimRef is part of a bi-directional binding between PersistentVolume and PersistentVolumeClaim."),
            TableColumn(name: "StorageClass", description: "storageClassName is the name of StorageClass to which this persistent volume belongs."),
            TableColumn(name: "VolumeAttributesClass", description: "Name of VolumeAttributesClass to which this persistent volume belongs."),
            TableColumn(name: "Reason", description: "reason is a brief CamelCase string that describes any failure."),
            CoreStrategies.ageColumn,
            TableColumn(name: "VolumeMode", description: "volumeMode defines if a volume is intended to be used with a formatted filesystem or to remain in raw block state.", priority: 1),
        ],
        cells: { pv, now in
            let claim = pv.value(at: ["spec", "claimRef"]).map { ref in
                "\(ref["namespace"]?.stringValue ?? "")/\(ref["name"]?.stringValue ?? "")"
            } ?? ""
            return [.string(pv.value(at: ["spec", "capacity", "storage"])?.stringValue ?? ""), .string(accessModes(pv)),
                    .string(pv.value(at: ["spec", "persistentVolumeReclaimPolicy"])?.stringValue ?? ""),
                    .string(pv.value(at: ["status", "phase"])?.stringValue ?? ""), .string(claim),
                    .string(pv.value(at: ["spec", "storageClassName"])?.stringValue ?? ""),
                    .string(pv.value(at: ["spec", "volumeAttributesClassName"])?.stringValue ?? "<unset>"),
                    .string(pv.value(at: ["status", "reason"])?.stringValue ?? ""), .string(TablePrinter.age(of: pv, now: now)),
                    .string(pv.value(at: ["spec", "volumeMode"])?.stringValue ?? "")]
        }
    )

    /// The volume types a PersistentVolume may name (exactly one).
    static let volumeSources: Set<String> = ["hostPath", "local", "nfs", "csi", "iscsi", "fc", "cephfs", "rbd", "glusterfs",
                                             "awsElasticBlockStore", "gcePersistentDisk", "azureDisk", "azureFile", "cinder",
                                             "flexVolume", "flocker", "portworxVolume", "quobyte", "scaleIO", "storageos",
                                             "vsphereVolume", "photonPersistentDisk"]

    static let storageClass = ResourceStrategy(
        applyDefaults: { sc in
            sc.setDefault("Delete", at: ["reclaimPolicy"])
            sc.setDefault("Immediate", at: ["volumeBindingMode"])
        },
        validate: { sc in
            Validation.required(sc, ["provisioner"], "provisioner")
                + Validation.oneOf(sc, ["volumeBindingMode"], "volumeBindingMode", ["Immediate", "WaitForFirstConsumer"])
                + Validation.oneOf(sc, ["reclaimPolicy"], "reclaimPolicy", ["Delete", "Retain"])
        },
        validateUpdate: { new, old in
            var errors: [FieldError] = []
            for field in ["provisioner", "parameters", "reclaimPolicy", "volumeBindingMode"] {
                errors += Validation.immutable(new, old, [field], field)
            }
            return errors
        },
        columns: [
            TableColumn(name: "Provisioner", description: "provisioner indicates the type of the provisioner."),
            TableColumn(name: "ReclaimPolicy", description: "reclaimPolicy controls the reclaimPolicy for dynamically provisioned PersistentVolumes of this storage class."),
            TableColumn(name: "VolumeBindingMode", description: "volumeBindingMode indicates how PersistentVolumeClaims should be provisioned and bound."),
            TableColumn(name: "AllowVolumeExpansion", description: "allowVolumeExpansion shows whether the storage class allow volume expand."),
            CoreStrategies.ageColumn,
        ],
        cells: { sc, now in
            [.string(sc["provisioner"]?.stringValue ?? ""), .string(sc["reclaimPolicy"]?.stringValue ?? ""),
             .string(sc["volumeBindingMode"]?.stringValue ?? ""), .string(sc["allowVolumeExpansion"]?.boolValue == true ? "true" : "false"),
             .string(TablePrinter.age(of: sc, now: now))]
        }
    )
}
