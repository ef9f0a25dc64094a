target_sources(rmq PRIVATE
)
