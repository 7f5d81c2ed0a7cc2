//! Kubernetes service discovery (`kubernetes_sd_configs`).
