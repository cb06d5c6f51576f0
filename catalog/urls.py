from django.shortcuts import render
from django.urls import path


def catalog_index(request):
    return render(request, "base.html")


urlpatterns = [path("catalog/", catalog_index, name="catalog")]
