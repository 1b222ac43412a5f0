"""One construct per concern. Each module links the provider documentation of the resources it declares,
the way databricks/terraform-databricks-sra does, so a reviewer can check every argument against it."""
