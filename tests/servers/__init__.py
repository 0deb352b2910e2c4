"""Real servers the tests start on loopback with private configs: OpenSSH's sshd and moto's S3."""
