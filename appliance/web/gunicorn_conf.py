"""gunicorn settings: log lines tagged [web] so they stand out in a container log."""


_FORMAT = "%(asctime)s [web] %(levelname)s %(name)s: %(message)s"
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"tagged": {"format": _FORMAT}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "tagged",
                             "stream": "ext://sys.stdout"}},
    "loggers": {"gunicorn.error": {"handlers": ["console"], "level": "INFO", "propagate": False},
                "gunicorn.access": {"handlers": ["console"], "level": "INFO",
                                    "propagate": False}},
}
accesslog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'
graceful_timeout = 5
